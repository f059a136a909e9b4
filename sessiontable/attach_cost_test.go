package sessiontable_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// counter counts the commands a client sends (a pipeline counts each).
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

// A job of a session ID that names no session costs the table no Redis
// command at all; a job of a live session does (it loads the session).
func TestAttachOfUnknownSessionCostsNothing(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	tableRDB := redis.NewClient(opts)
	t.Cleanup(func() { _ = tableRDB.Close() })
	var cnt counter
	tableRDB.AddHook(&cnt)
	tbl, err := sessiontable.New(tableRDB, sessiontable.Config{Logger: quiet, TempDir: t.TempDir()})
	require.NoError(t, err)
	live, err := tbl.Create(context.Background(), sessiontable.Spec{})
	require.NoError(t, err)
	startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{
		"noop": worker.HandlerFunc(func(context.Context, *worker.Job) error { return nil }),
	})
	c := newClient(t, rdb)
	before := cnt.n.Load()
	for range 5 {
		in := runJob(t, c, "noop", jobs.Session("no-such-session"))
		require.Equal(t, jobs.StateSucceeded, in.State)
	}
	require.Equal(t, before, cnt.n.Load(), "an unknown session's jobs made the table talk to Redis")
	in := runJob(t, c, "noop", jobs.Session(live.ID))
	require.Equal(t, jobs.StateSucceeded, in.State)
	require.Greater(t, cnt.n.Load(), before, "a live session's job loads the session")
}
