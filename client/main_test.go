package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/client"
	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessionqtest"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
	"github.com/sessionq/sessionq/worker"
)

// TestMain runs the tests on the shared test Redis and fails on leaked
// goroutines (goleak, through redistest.Main).
func TestMain(m *testing.M) { redistest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is a gateway on loopback over rdb, with the session table and a
// real worker that handles "echo" (result = payload), "param" (result =
// the session's parameter named by the payload) and "block" (until
// release is closed).
type stack struct {
	url     string
	rdb     redis.UniversalClient
	tbl     *sessiontable.Table
	users   *users.Store
	release chan struct{}
	stops   []func()
}

type stackOptions struct {
	quota int // open sessions per owner; 0 the table's default
}

// newStack starts a stack; stop stops it. It takes no testing.TB so that
// examples can use it too.
func newStack(rdb redis.UniversalClient, tempDir string, o stackOptions) (*stack, error) {
	st := &stack{rdb: rdb, users: users.New(rdb), release: make(chan struct{})}
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet, TempDir: tempDir, MaxSessionsPerOwner: o.quota})
	if err != nil {
		return nil, err
	}
	st.tbl = tbl
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	if err != nil {
		return nil, err
	}
	w, err := worker.New(rdb, worker.Config{
		Concurrency: 4, Lease: 5 * time.Second, ShutdownGrace: time.Second, PollInterval: 5 * time.Millisecond,
		RetryDelay: func(int, error) time.Duration { return 10 * time.Millisecond }, Logger: quiet, Attacher: worker.SessionTable(tbl),
	})
	if err != nil {
		return nil, err
	}
	for typ, h := range map[string]worker.HandlerFunc{
		"echo": func(_ context.Context, j *worker.Job) error { j.SetResult(j.Payload); return nil },
		"param": func(ctx context.Context, j *worker.Job) error {
			if j.SessionID == "" {
				return errors.New("not a session job")
			}
			v, err := tbl.Param(ctx, j.SessionID, string(j.Payload))
			if errors.Is(err, sessiontable.ErrParamNotFound) {
				v, err = "<none>", nil
			}
			j.SetResult([]byte(v))
			return err
		},
		"block": func(ctx context.Context, _ *worker.Job) error {
			select {
			case <-st.release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	} {
		if err := w.Handle(typ, h); err != nil {
			return nil, err
		}
	}
	if err := w.Start(context.Background()); err != nil {
		return nil, err
	}
	st.stops = append(st.stops, w.Stop)
	g, err := gateway.New(rdb, tbl, jc, st.users, gateway.Config{Addr: "127.0.0.1:0", Logger: quiet, EventPoll: 10 * time.Millisecond})
	if err != nil {
		st.stop()
		return nil, err
	}
	if err := g.Start(context.Background()); err != nil {
		st.stop()
		return nil, err
	}
	st.stops = append(st.stops, g.Stop)
	st.url = "http://" + g.Addr()
	return st, nil
}

func (st *stack) stop() {
	for i := len(st.stops) - 1; i >= 0; i-- {
		st.stops[i]()
	}
}

// user adds user name (password "pw-NAME") with rights and returns a
// token of theirs.
func (st *stack) user(ctx context.Context, name string, rights ...string) (string, error) {
	if err := st.users.Add(ctx, name, "pw-"+name, rights); err != nil {
		return "", err
	}
	tok, _, err := st.users.CreateToken(ctx, name, "test", 0)
	return tok, err
}

// testStack starts a stack on a Redis database of the test's own.
func testStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	rdb, _ := redistest.Client(t)
	st, err := newStack(rdb, t.TempDir(), o)
	require.NoError(t, err)
	t.Cleanup(st.stop)
	return st
}

// dial adds a user with rights and dials as them.
func (st *stack) dial(t testing.TB, name string, rights ...string) *client.Conn {
	t.Helper()
	ctx := context.Background()
	tok, err := st.user(ctx, name, rights...)
	require.NoError(t, err)
	c, err := client.Dial(ctx, st.url, client.Token(tok))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// serverParams reads a session's parameters from the table, as the
// server holds them.
func (st *stack) serverParams(t testing.TB, sid string) map[string]string {
	t.Helper()
	m, err := st.tbl.Params(context.Background(), sid, sessiontable.OutOfSession())
	require.NoError(t, err)
	return m
}

// eventually is sessionqtest.Eventually.
var eventually = sessionqtest.Eventually
