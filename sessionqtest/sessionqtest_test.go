package sessionqtest_test

import (
	"context"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessionqtest"
	"github.com/sessionq/sessionq/worker"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// fakeT records a Fatalf and ends its goroutine, as testing.T does.
type fakeT struct {
	testing.TB
	failed atomic.Value
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed.Store(format)
	runtime.Goexit()
}

func run(f func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	<-done
}

func TestEventually(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	sessionqtest.Eventually(t, 5*time.Second, func() bool { return n.Add(1) >= 3 }, "three looks")
	require.EqualValues(t, 3, n.Load())

	ft := &fakeT{TB: t}
	start := time.Now()
	run(func() { sessionqtest.Eventually(ft, 50*time.Millisecond, func() bool { return false }, "never %d", 1) })
	require.NotNil(t, ft.failed.Load(), "a condition that never holds fails the test")
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "not before the deadline")
}

func TestStartWorkerAndWaitState(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	var ran atomic.Int32
	sessionqtest.StartWorker(t, rdb, worker.Config{}, map[string]worker.HandlerFunc{
		"testkit-echo": func(context.Context, *worker.Job) error { ran.Add(1); return nil },
	})
	sub, err := c.Submit(t.Context(), "testkit-echo", nil)
	require.NoError(t, err)
	in := sessionqtest.WaitState(t, c, sub.ID, jobs.StateSucceeded)
	require.Equal(t, sub.ID, in.ID)
	require.EqualValues(t, 1, ran.Load())
}

// No file but a test imports sessionqtest.
func TestOnlyTestsImportIt(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	const self = "github.com/sessionq/sessionq/sessionqtest"
	var bad []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n != "." && n != ".." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == self {
				bad = append(bad, path)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Empty(t, bad, "only tests may import %s", self)
}
