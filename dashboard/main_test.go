package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
	"github.com/sessionq/sessionq/worker"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// hotBacklog is the test table's hot threshold.
const hotBacklog = 3

// env is a real gateway (with the dashboard) over loopback, a real worker
// in process and a Redis database of its own.
type env struct {
	t     testing.TB
	rdb   *redis.Client
	tbl   *sessiontable.Table
	jobs  *jobs.Client
	users *users.Store
	base  string
	admin string // an admin's API token

	// release lets one "block" job end per send.
	release chan struct{}
	failed  sync.Map // job IDs "failonce" failed already
}

func newEnv(t testing.TB) *env {
	t.Helper()
	rdb, _ := redistest.Client(t)
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet, TempDir: t.TempDir(), HotBacklog: hotBacklog})
	require.NoError(t, err)
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	e := &env{t: t, rdb: rdb, tbl: tbl, jobs: jc, users: users.New(rdb), release: make(chan struct{})}
	ctx := context.Background()
	require.NoError(t, e.users.Add(ctx, "ops", "a long enough password", []string{users.Admin}))
	e.admin, _, err = e.users.CreateToken(ctx, "ops", "test", time.Hour)
	require.NoError(t, err)

	w, err := worker.New(rdb, worker.Config{
		Concurrency: 4, Lease: 5 * time.Second, ShutdownGrace: time.Second, PollInterval: 5 * time.Millisecond,
		RetryDelay: func(int, error) time.Duration { return 10 * time.Millisecond }, Logger: quiet, Attacher: worker.SessionTable(tbl),
	})
	require.NoError(t, err)
	require.NoError(t, w.Handle("block", worker.HandlerFunc(func(ctx context.Context, _ *worker.Job) error {
		select {
		case <-e.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})))
	require.NoError(t, w.Handle("failonce", worker.HandlerFunc(func(_ context.Context, j *worker.Job) error {
		if _, again := e.failed.LoadOrStore(j.ID, true); again {
			return nil
		}
		return fmt.Errorf("failed on purpose: %w", worker.ErrSkipRetry)
	})))
	require.NoError(t, w.Start(ctx))
	t.Cleanup(w.Stop)

	srv, err := gateway.New(rdb, tbl, jc, e.users, gateway.Config{Addr: "127.0.0.1:0", Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, srv.Start(ctx))
	t.Cleanup(srv.Stop)
	// Stop the worker before the gateway goes: blocked jobs end first.
	t.Cleanup(func() { close(e.release) })
	e.base = "http://" + srv.Addr()
	return e
}

// session opens a session of owner with n "block" jobs; the first runs
// (and blocks), the others wait behind it.
func (e *env) session(owner, tid string, n int) (string, []string) {
	e.t.Helper()
	ctx := context.Background()
	in, err := e.tbl.Establish(ctx, true, sessiontable.Spec{Owner: owner, TID: tid, Params: map[string]string{"lang": "fr"}})
	require.NoError(e.t, err)
	// Paused while the jobs are submitted, so that the first starts with
	// the whole backlog behind it (the hot check looks then).
	require.NoError(e.t, e.jobs.PauseSession(ctx, in.ID))
	ids := make([]string, n)
	for i := range ids {
		s, err := e.jobs.Submit(ctx, "block", nil, jobs.Session(in.ID))
		require.NoError(e.t, err)
		ids[i] = s.ID
	}
	require.NoError(e.t, e.jobs.ResumeSession(ctx, in.ID))
	e.eventually("the session's first job runs", func() bool {
		j, err := e.jobs.Get(ctx, ids[0])
		return err == nil && j.State == jobs.StateRunning
	})
	return in.ID, ids
}

// eventually polls cond until it holds, failing after a generous deadline.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client is an HTTP client that does not follow redirects.
func client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
