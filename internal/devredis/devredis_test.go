package devredis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionq/sessionq/internal/devredis"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
	"github.com/sessionq/sessionq/sessionqtest"
	"github.com/sessionq/sessionq/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T) (*devredis.Server, *redis.Client) {
	t.Helper()
	s, err := devredis.Start(t.Context())
	require.NoError(t, err)
	t.Cleanup(s.Close)
	opt, err := redis.ParseURL(s.URL())
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return s, rdb
}

// eventually is sessionqtest.Eventually.
var eventually = sessionqtest.Eventually

func TestStartServesRedis(t *testing.T) {
	t.Parallel()
	s, rdb := start(t)
	require.Regexp(t, `^redis://127\.0\.0\.1:\d+/0$`, s.URL())
	require.NoError(t, rdb.Set(t.Context(), "k", "v", 0).Err())
	require.Equal(t, "v", rdb.Get(t.Context(), "k").Val())
	s.Close()
	s.Close() // safe twice
	require.Error(t, rdb.Ping(t.Context()).Err())
}

func TestStartAddrRefusesBadAddress(t *testing.T) {
	t.Parallel()
	_, err := devredis.StartAddr(t.Context(), "no-port")
	require.ErrorContains(t, err, `invalid listen address "no-port"`)
}

func TestStartHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := devredis.Start(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

// TTLs must run against the wall clock: leadership terms, job retention and
// session idle timeouts depend on it.
func TestTTLsFollowTheClock(t *testing.T) {
	t.Parallel()
	_, rdb := start(t)
	require.NoError(t, rdb.Set(t.Context(), "k", "v", 50*time.Millisecond).Err())
	eventually(t, 5*time.Second, func() bool { return rdb.Exists(t.Context(), "k").Val() == 0 }, "key with a 50ms TTL still there")
}

// TestLedgerScripts runs every ledger script on the embedded Redis, through
// each of its main outcomes.
func TestLedgerScripts(t *testing.T) {
	t.Parallel()
	_, rdb := start(t)
	ctx := t.Context()
	l := ledger.New(rdb)
	fields := func(string) ledger.Job {
		return ledger.Job{Type: "t", Payload: []byte{0, 1, 2, 255}, Queue: "default", MaxRetry: 3, Timeout: time.Second, Policy: "block"}
	}
	opt := ledger.FinishOptions{Worker: "w", Lease: time.Second, Retention: time.Hour, Inline: true, Queues: ",default,"}

	r, err := l.Submit(ctx, "S", "a", fields("a"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.SubmitResult{Verdict: ledger.Dispatch, State: ledger.StatePending, Seq: 1, Gen: 1}, r)
	r, err = l.Submit(ctx, "S", "b", fields("b"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.Parked, r.Verdict)
	// A session record with an idle timeout: submit refreshes it (PEXPIREAT).
	require.NoError(t, rdb.HSet(ctx, keys.Session("S"), "idle", 60000, "dl", 0).Err())
	r, err = l.Submit(ctx, "S", "c", fields("c"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, int64(3), r.Seq)
	require.InDelta(t, time.Minute, rdb.PTTL(ctx, keys.Session("S")).Val(), float64(time.Second))

	a, err := l.Acquire(ctx, "S", "a", 1, "w1", 100*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, ledger.OK, a.Verdict)
	require.Equal(t, []byte{0, 1, 2, 255}, a.Job.Payload)
	require.True(t, a.Job.Active)
	w, err := l.Acquire(ctx, "S", "b", 7, "w1", time.Second)
	require.NoError(t, err)
	require.Equal(t, ledger.Stale, w.Verdict)
	w, err = l.Acquire(ctx, "S", "b", 0, "w1", time.Second)
	require.NoError(t, err)
	require.Equal(t, ledger.Wait, w.Verdict)
	rn, err := l.Renew(ctx, "S", "a", a.Job.Token, 100*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, ledger.LeaseRenewed, rn)

	// The lease runs out: the reconciler's Inspect and Redispatch take over.
	var snap ledger.Snapshot
	eventually(t, 5*time.Second, func() bool {
		snap, err = l.Inspect(ctx, "S")
		require.NoError(t, err)
		return snap.LockJob == "a" && !snap.LockUntil.After(snap.Now)
	}, "lease did not expire")
	v, task, err := l.Redispatch(ctx, snap)
	require.NoError(t, err)
	require.Equal(t, ledger.Redispatched, v)
	a, err = l.Acquire(ctx, "S", "a", task.Gen, "w2", time.Second)
	require.NoError(t, err)
	require.Equal(t, ledger.OK, a.Verdict)

	// Graceful hand-back, then a failure retried in place.
	task, err = l.Release(ctx, "S", "a", a.Job.Token)
	require.NoError(t, err)
	a, err = l.Acquire(ctx, "S", "a", task.Gen, "w2", time.Second)
	require.NoError(t, err)
	fr, err := l.Finish(ctx, "S", "a", a.Job.Token, ledger.Outcome{Text: "boom", RetryDelay: time.Millisecond}, opt)
	require.NoError(t, err)
	require.Equal(t, ledger.Retry, fr.Verdict)

	// Success with the next job run inline, then handed to the queue, then none.
	a, err = l.Acquire(ctx, "S", "a", fr.Retry.Gen, "w2", time.Second)
	require.NoError(t, err)
	require.Equal(t, ledger.OK, a.Verdict)
	fr, err = l.Finish(ctx, "S", "a", a.Job.Token, ledger.Outcome{OK: true, Text: "res"}, opt)
	require.NoError(t, err)
	require.Equal(t, ledger.Finished, fr.Verdict)
	require.Equal(t, ledger.StateSucceeded, fr.State)
	require.Equal(t, ledger.Run, fr.Next)
	require.Equal(t, "b", fr.Run.ID)
	noInline := opt
	noInline.Inline = false
	fr, err = l.Finish(ctx, "S", "b", fr.Run.Token, ledger.Outcome{OK: true}, noInline)
	require.NoError(t, err)
	require.Equal(t, ledger.Enqueue, fr.Next)
	a, err = l.Acquire(ctx, "S", "c", fr.Task.Gen, "w2", time.Second)
	require.NoError(t, err)
	fr, err = l.Finish(ctx, "S", "c", a.Job.Token, ledger.Outcome{OK: true}, opt)
	require.NoError(t, err)
	require.Equal(t, ledger.None, fr.Next)
	require.Positive(t, rdb.PTTL(ctx, keys.Job("S", "a")).Val())
	require.Positive(t, rdb.PTTL(ctx, keys.Run("S")).Val())
	require.Equal(t, "S", rdb.Get(ctx, keys.JobIndex("a")).Val())

	// Cancel: a waiting job at once, a running one at its next renewal.
	oos := fields("")
	oos.OutOfSession = true
	_, err = l.Submit(ctx, "T", "x", oos, ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	_, err = l.Submit(ctx, "T", "y", oos, ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	cr, err := l.Cancel(ctx, "T", "y", time.Hour)
	require.NoError(t, err)
	require.Equal(t, ledger.Cancelled, cr.Verdict)
	a, err = l.Acquire(ctx, "T", "x", 1, "w", time.Second)
	require.NoError(t, err)
	cr, err = l.Cancel(ctx, "T", "x", time.Hour)
	require.NoError(t, err)
	require.Equal(t, ledger.Requested, cr.Verdict)
	rn, err = l.Renew(ctx, "T", "x", a.Job.Token, time.Second)
	require.NoError(t, err)
	require.Equal(t, ledger.CancelRequested, rn)
}

// TestRunsTheStack runs a worker and a scheduler (asynq and the leadership
// scripts) on the embedded Redis: session jobs, one retried, and plain jobs.
func TestRunsTheStack(t *testing.T) {
	t.Parallel()
	_, rdb := start(t)
	ctx := t.Context()
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	w, err := worker.New(rdb, worker.Config{
		Concurrency: 4, RetryDelay: func(int, error) time.Duration { return 10 * time.Millisecond },
		DelayedCheckInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	var mu sync.Mutex
	seen := map[string][]int64{}
	require.NoError(t, w.HandleFunc("t", func(_ context.Context, j *worker.Job) error {
		mu.Lock()
		seen[j.SessionID] = append(seen[j.SessionID], j.Seq)
		mu.Unlock()
		if string(j.Payload) == "fail-once" && j.Attempt == 1 {
			return errors.New("boom")
		}
		j.SetResult([]byte("ok"))
		return nil
	}))
	require.NoError(t, w.Start(ctx))
	t.Cleanup(w.Stop)
	s, err := scheduler.New(rdb, scheduler.Config{Interval: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s.Start(ctx))
	t.Cleanup(s.Stop)

	var ids []string
	for i := range 3 {
		for k := range 4 {
			p := "x"
			if k == 1 {
				p = "fail-once"
			}
			sub, err := c.Submit(ctx, "t", []byte(p), jobs.Session(fmt.Sprintf("s%d", i)))
			require.NoError(t, err)
			ids = append(ids, sub.ID)
		}
	}
	for range 4 {
		sub, err := c.Submit(ctx, "t", []byte("plain"))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	for _, id := range ids {
		eventually(t, 15*time.Second, func() bool {
			in, err := c.Get(ctx, id)
			require.NoError(t, err)
			if in.State.Terminal() {
				require.Equal(t, jobs.StateSucceeded, in.State, "%+v", in)
			}
			return in.State.Terminal()
		}, "job "+id+" did not end")
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 3 {
		// The retried job runs twice, in place.
		require.Equal(t, []int64{1, 2, 2, 3, 4}, seen[fmt.Sprintf("s%d", i)])
	}
	rep, err := s.Reconcile(ctx)
	require.NoError(t, err)
	require.Zero(t, rep.Repaired, "%+v", rep)
	require.Zero(t, rep.Errors, "%+v", rep)
}
