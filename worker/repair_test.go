package worker_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// scriptShape reports whether cmd runs a Lua script with nkeys keys and
// nargv arguments: how the fault injectors below recognize a ledger call.
func scriptShape(cmd redis.Cmder, nkeys, nargv int) bool {
	args := cmd.Args()
	if n := strings.ToLower(cmd.Name()); (n != "evalsha" && n != "eval") || len(args) < 3 {
		return false
	}
	k, ok := args[2].(int)
	if s, isStr := args[2].(string); isStr {
		n, err := strconv.Atoi(s)
		k, ok = n, err == nil
	}
	return ok && k == nkeys && len(args)-3-nkeys == nargv
}

func isFinish(cmd redis.Cmder) bool { return scriptShape(cmd, 5, 14) }
func isRenew(cmd redis.Cmder) bool  { return scriptShape(cmd, 2, 3) }

// faults is a go-redis hook that makes chosen calls fail (drop) or hang
// (block, without regard to their context, as a read on a dead socket
// does) until released.
type faults struct {
	drop    func(redis.Cmder) bool
	block   func(redis.Cmder) bool
	release chan struct{}
	hits    atomic.Int64
}

func (f *faults) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *faults) check(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if f.drop != nil && f.drop(c) {
			f.hits.Add(1)
			return errors.New("injected fault: connection lost")
		}
		if f.block != nil && f.block(c) {
			f.hits.Add(1)
			<-f.release
			return errors.New("injected fault: connection dead")
		}
	}
	return nil
}

func (f *faults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := f.check([]redis.Cmder{cmd}); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (f *faults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := f.check(cmds); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// faultyClient is a second client on the database of url, with f hooked in.
func faultyClient(t *testing.T, url string, f *faults) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	c.AddHook(f)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A worker that dies (here: loses Redis) between the session write-back and
// the finish of a job: the job is finished by the next holder of the lease
// without running again, so the session holds its changes once, and its
// result is kept.
func TestCommittedJobIsNotRunAgain(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	ctx := context.Background()
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet})
	require.NoError(t, err)
	s, err := tbl.Create(ctx, sessiontable.Spec{})
	require.NoError(t, err)
	var runs atomic.Int64
	appendLine := map[string]worker.HandlerFunc{
		"append": func(ctx context.Context, j *worker.Job) error {
			runs.Add(1)
			js := sessiontable.FromContext(ctx)
			f, err := os.OpenFile(filepath.Join(js.Dir(), "log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.WriteString("job " + j.ID + "\n"); err != nil {
				return err
			}
			j.SetResult([]byte("appended"))
			return nil
		},
	}
	// Worker 1 writes back, then its finish never reaches Redis.
	f := &faults{drop: isFinish}
	startWorker(t, faultyClient(t, url, f), worker.Config{
		Concurrency: 1, Lease: 500 * time.Millisecond, NoMaintenance: true, Attacher: worker.SessionTable(tbl),
	}, appendLine)
	sub, err := newClient(t, rdb).Submit(ctx, "append", nil, jobs.Session(s.ID))
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool { return f.hits.Load() > 0 }, "worker 1 to try its finish")
	// Worker 2 takes over once the lease ran out (its maintenance repairs).
	startWorker(t, rdb, worker.Config{Concurrency: 1, Attacher: worker.SessionTable(tbl)}, appendLine)
	in := waitTerminal(t, newClient(t, rdb), []string{sub.ID}, 15*time.Second)[sub.ID]
	require.Equal(t, jobs.StateSucceeded, in.State, "%+v", in)
	require.Equal(t, "appended", string(in.Result))
	require.Equal(t, int64(1), runs.Load(), "the committed job ran again")
	log, err := tbl.File(ctx, s.ID, "log")
	require.NoError(t, err)
	require.Equal(t, "job "+sub.ID+"\n", string(log), "the session must hold the job's line once")
}

// A worker whose lease renewals hang (a dead connection) stops the run
// before its lease can run out in Redis, so that no other worker can take
// the session over while it still runs.
func TestRunStopsBeforeItsLeaseCanRunOut(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	ctx := context.Background()
	f := &faults{block: isRenew, release: make(chan struct{})}
	t.Cleanup(func() { close(f.release) })
	type stop struct {
		cause         error
		untilMs, nowM int64
	}
	stopped := make(chan stop, 1)
	startWorker(t, faultyClient(t, url, f), worker.Config{Concurrency: 1, Lease: time.Second, NoMaintenance: true},
		map[string]worker.HandlerFunc{
			"long": func(ctx context.Context, j *worker.Job) error {
				<-ctx.Done()
				// Where the lease stands in Redis now that the run stops.
				until, _ := rdb.HGet(context.Background(), keys.Run(j.SessionID), "until").Int64()
				now, _ := rdb.Time(context.Background()).Result()
				stopped <- stop{context.Cause(ctx), until, now.UnixMilli()}
				return ctx.Err()
			},
		})
	_, err := newClient(t, rdb).Submit(ctx, "long", nil, jobs.Session("cut-off"))
	require.NoError(t, err)
	select {
	case s := <-stopped:
		require.ErrorIs(t, s.cause, worker.ErrLeaseLost)
		require.Greater(t, s.untilMs, s.nowM, "the run must stop while the lease is still its own")
		require.Positive(t, f.hits.Load())
	case <-time.After(10 * time.Second):
		t.Fatal("the run was not stopped although its lease could not be renewed")
	}
}

// Finished jobs leave no per-job state once their retention has passed:
// no ID index, no record, no run hash, no pending list, no repair-index
// entry, no asynq task.
func TestFinishedJobsLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var done atomic.Int64
	startWorker(t, rdb, worker.Config{Concurrency: 4, Retention: 300 * time.Millisecond}, map[string]worker.HandlerFunc{
		"noop": func(context.Context, *worker.Job) error { done.Add(1); return nil },
	})
	for i := range 60 {
		_, err := c.Submit(ctx, "noop", nil, jobs.Session("keep-"+strconv.Itoa(i%6)))
		require.NoError(t, err)
	}
	// (A job's record may expire before a poll could read it: count runs.)
	eventually(t, 15*time.Second, func() bool { return done.Load() == 60 }, "60 jobs to run")
	patterns := []string{"sq:ji:*", "sq:{*}:j:*", "sq:{*}:run", "sq:{*}:pend", "sq:due:*", "asynq:{default}:t:*"}
	left := func() map[string]int {
		out := map[string]int{}
		for _, p := range patterns {
			ks, err := rdb.Keys(ctx, p).Result()
			require.NoError(t, err)
			if len(ks) > 0 {
				out[p] = len(ks)
			}
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for l := left(); len(l) > 0; l = left() {
		if time.Now().After(deadline) {
			t.Fatalf("per-job state left after retention: %v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
