package sessiontable_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// counter counts the commands a client sends (a pipeline counts each),
// leaving out what a new connection sends to set itself up, and counts
// script runs (EVAL, EVALSHA) apart.
type counter struct{ n, scripts atomic.Int64 }

func (c *counter) count(cmd redis.Cmder) {
	switch name := cmd.Name(); name {
	case "hello", "client", "auth", "select":
	case "eval", "evalsha":
		c.scripts.Add(1)
		c.n.Add(1)
	default:
		c.n.Add(1)
	}
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.count(cmd); return next(ctx, cmd) }
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return next(ctx, cmds)
	}
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

// A hot session's jobs do not each cost a round trip to note that it is
// hot: each process asks at most once a second per session.
func TestHotNotingIsThrottled(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	tableRDB := redis.NewClient(opts)
	t.Cleanup(func() { _ = tableRDB.Close() })
	var cnt counter
	tableRDB.AddHook(&cnt)
	tbl, err := sessiontable.New(tableRDB, sessiontable.Config{Logger: quiet, TempDir: t.TempDir(), HotBacklog: 2})
	require.NoError(t, err)
	c := newClient(t, rdb)
	ctx := context.Background()
	var ids []string
	for range 20 {
		sub, err := c.Submit(ctx, "noop", nil, jobs.Session("fixed-id"))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{
		"noop": worker.HandlerFunc(func(context.Context, *worker.Job) error { return nil }),
	})
	for _, id := range ids {
		waitJob(t, c, id, 10*time.Second)
	}
	// One noting: EVALSHA, and EVAL when the script was not loaded yet.
	// Without the throttle: a script run for each of the 19 hot jobs.
	require.LessOrEqual(t, cnt.scripts.Load(), int64(2), "hot jobs cost a round trip each")
	hot, err := tbl.HotSessions(ctx)
	require.NoError(t, err)
	require.Len(t, hot, 1)
	require.Equal(t, "fixed-id", hot[0].ID)
}
