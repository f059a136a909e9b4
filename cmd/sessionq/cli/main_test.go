package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/sessionqtest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// command's goroutines (loggers) and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what one run of the command line produced.
type result struct {
	out, err *syncBuffer
}

// execute runs the sessionq command line with args until it returns, with
// stdin empty.
func execute(ctx context.Context, args ...string) (result, error) {
	return executeRoot(ctx, NewRootCmd(), args...)
}

// executeRoot runs the command tree root with args until it returns.
func executeRoot(ctx context.Context, root *cobra.Command, args ...string) (result, error) {
	r := result{out: &syncBuffer{}, err: &syncBuffer{}}
	root.SetArgs(args)
	root.SetOut(r.out)
	root.SetErr(r.err)
	root.SetIn(strings.NewReader(""))
	return r, root.ExecuteContext(ctx)
}

// run is execute with the test's context.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	r, err := execute(t.Context(), args...)
	return r.out.String(), r.err.String(), err
}

// eventually is sessionqtest.Eventually.
var eventually = sessionqtest.Eventually
