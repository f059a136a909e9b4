package sessiontable_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// lastAccess reads a session's last access (server ms) and expiry.
func lastAccess(t *testing.T, rdb *redis.Client, id string) (la int64, exp int64) {
	t.Helper()
	ctx := context.Background()
	v, err := rdb.HGet(ctx, keys.Session(id), "la").Result()
	require.NoError(t, err)
	la, err = strconv.ParseInt(v, 10, 64)
	require.NoError(t, err)
	at, err := rdb.PExpireTime(ctx, keys.Session(id)).Result()
	require.NoError(t, err)
	return la, at.Milliseconds()
}

// nextMilli waits until the Redis clock is past ms, so that a refresh after
// it is visible in the last access.
func nextMilli(t *testing.T, rdb *redis.Client, ms int64) {
	t.Helper()
	eventually(t, time.Second, func() bool {
		now, err := rdb.Time(context.Background()).Result()
		require.NoError(t, err)
		return now.UnixMilli() > ms
	}, "the Redis clock to move")
}

// Every normal use refreshes the idle timer; a use flagged out-of-session
// does not: API reads and writes, job submission, a job's run and commit.
func TestOutOfSessionDoesNotRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	id := create(t, tbl, sessiontable.Spec{IdleTimeout: time.Hour, Params: map[string]string{"k": "v"}, TID: "term"})
	c := newClient(t, rdb)
	uses := []struct {
		name string
		use  func(oos bool) error
	}{
		{"get", func(o bool) error { _, err := tbl.Get(ctx, id, opt(o)...); return err }},
		{"lookup", func(o bool) error { _, err := tbl.Lookup(ctx, "", "term", opt(o)...); return err }},
		{"param", func(o bool) error { _, err := tbl.Param(ctx, id, "k", opt(o)...); return err }},
		{"params", func(o bool) error { _, err := tbl.Params(ctx, id, opt(o)...); return err }},
		{"set param", func(o bool) error { return tbl.SetParam(ctx, id, "k", "w", opt(o)...) }},
		{"delete param", func(o bool) error { return tbl.DeleteParam(ctx, id, "x", opt(o)...) }},
		{"put file", func(o bool) error { return tbl.PutFile(ctx, id, "f", []byte("x"), opt(o)...) }},
		{"file", func(o bool) error { _, err := tbl.File(ctx, id, "f", opt(o)...); return err }},
		{"files", func(o bool) error { _, err := tbl.Files(ctx, id, opt(o)...); return err }},
		{"delete file", func(o bool) error { return tbl.DeleteFile(ctx, id, "f", opt(o)...) }},
		{"submit", func(o bool) error {
			jo := []jobs.Option{jobs.Session(id), jobs.ProcessIn(time.Hour)}
			if o {
				jo = append(jo, jobs.OutOfSession())
			}
			_, err := c.Submit(ctx, "later", nil, jo...)
			return err
		}},
	}
	for _, u := range uses {
		la, exp := lastAccess(t, rdb, id)
		nextMilli(t, rdb, la)
		require.NoError(t, u.use(true), u.name)
		la2, exp2 := lastAccess(t, rdb, id)
		require.Equal(t, la, la2, "%s out-of-session refreshed the last access", u.name)
		require.Equal(t, exp, exp2, "%s out-of-session moved the expiry", u.name)
		require.NoError(t, u.use(false), u.name)
		la3, exp3 := lastAccess(t, rdb, id)
		require.Greater(t, la3, la, "%s did not refresh the last access", u.name)
		require.Greater(t, exp3, exp, "%s did not move the expiry", u.name)
	}
}

// A job that runs (and writes) refreshes the idle timer; an out-of-session
// one does not, neither by its submission nor by its run.
func TestOutOfSessionJobRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	id := create(t, tbl, sessiontable.Spec{IdleTimeout: time.Hour})
	c := newClient(t, rdb)
	startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{
		"write": worker.HandlerFunc(func(ctx context.Context, job *worker.Job) error {
			return sessiontable.FromContext(ctx).SetParam("by", job.ID)
		}),
	})
	la, _ := lastAccess(t, rdb, id)
	nextMilli(t, rdb, la)
	in := runJob(t, c, "write", jobs.Session(id), jobs.OutOfSession())
	require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
	v, err := tbl.Param(ctx, id, "by", sessiontable.OutOfSession())
	require.NoError(t, err)
	require.Equal(t, in.ID, v, "the out-of-session job's write was kept")
	la2, _ := lastAccess(t, rdb, id)
	require.Equal(t, la, la2, "an out-of-session job refreshed the idle timer")
	in = runJob(t, c, "write", jobs.Session(id))
	require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
	la3, _ := lastAccess(t, rdb, id)
	require.Greater(t, la3, la)
}

// With a short idle timeout: a session used only out-of-session expires
// while one used normally stays open.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	c := newClient(t, rdb)
	start := time.Now() // before the idle session's timer starts
	idle := create(t, tbl, sessiontable.Spec{IdleTimeout: 300 * time.Millisecond})
	used := create(t, tbl, sessiontable.Spec{IdleTimeout: 300 * time.Millisecond})
	for {
		// Out-of-session uses of "idle", normal uses of "used".
		_, err := c.Submit(ctx, "later", nil, jobs.Session(idle), jobs.OutOfSession(), jobs.ProcessIn(time.Hour))
		require.NoError(t, err)
		_, err = tbl.Params(ctx, idle, sessiontable.OutOfSession())
		if errors.Is(err, sessiontable.ErrNotFound) {
			break
		}
		require.NoError(t, err)
		_, err = c.Submit(ctx, "later", nil, jobs.Session(used), jobs.ProcessIn(time.Hour))
		require.NoError(t, err)
		_, err = tbl.Params(ctx, used)
		require.NoError(t, err)
		require.Less(t, time.Since(start), 5*time.Second, "the idle session did not expire")
		time.Sleep(20 * time.Millisecond) // pace the uses
	}
	// Not before its timeout (Redis keeps expiry times in whole ms).
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond-10*time.Millisecond)
	_, err := tbl.Get(ctx, used)
	require.NoError(t, err, "the session used normally expired")

	// A lifetime ends a session however much it is used.
	capped, err := tbl.Create(ctx, sessiontable.Spec{IdleTimeout: time.Hour, Lifetime: 200 * time.Millisecond})
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() bool {
		_, err := tbl.Get(ctx, capped.ID)
		return errors.Is(err, sessiontable.ErrNotFound)
	}, "the lifetime to end the session")
}

func opt(oos bool) []sessiontable.CallOption {
	if oos {
		return []sessiontable.CallOption{sessiontable.OutOfSession()}
	}
	return nil
}
