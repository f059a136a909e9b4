package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
)

// stuck makes n sessions whose head job is held by a worker that died: a
// lease that ran out.
func stuck(t *testing.T, rdb *redis.Client, prefix string, n int) []string {
	t.Helper()
	ctx := context.Background()
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	led := ledger.New(rdb)
	var ss []string
	for i := range n {
		s := fmt.Sprintf("%s-%d", prefix, i)
		sub, err := jc.Submit(ctx, "t", nil, jobs.Session(s))
		require.NoError(t, err)
		r, err := led.Acquire(ctx, s, sub.ID, 1, "dead-worker", time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, ledger.OK, r.Verdict)
		ss = append(ss, s)
	}
	// The leases run out.
	require.Eventually(t, func() bool {
		snap, err := led.Inspect(ctx, ss[n-1])
		require.NoError(t, err)
		return snap.LockUntil.Before(snap.Now)
	}, 5*time.Second, time.Millisecond)
	return ss
}

func newScheduler(t *testing.T, rdb *redis.Client, cfg scheduler.Config) *scheduler.Scheduler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := scheduler.New(rdb, cfg)
	require.NoError(t, err)
	return s
}

// A pass looks at the sessions that are due, not at every session in
// Redis: idle sessions cost it nothing.
func TestPassLooksOnlyAtDueSessions(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	p := rdb.Pipeline()
	for i := range 3000 {
		s := fmt.Sprintf("idle-%d", i)
		p.HSet(ctx, keys.Session(s), "own", "u", "la", 1)
		p.HSet(ctx, keys.Run(s), "seq", 1, "fence", 1)
	}
	_, err := p.Exec(ctx)
	require.NoError(t, err)
	stuck(t, rdb, "stuck", 3)
	s := newScheduler(t, rdb, scheduler.Config{FullScanEvery: -1})
	rep, err := s.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, rep.Looked, "%+v", rep)
	require.Equal(t, 3, rep.Repaired, "%+v", rep)
	require.Equal(t, 3, rep.Indexed, "%+v", rep)
}

// A session that cannot be looked at is counted and tried again later; the
// pass goes on with the others.
func TestPassGoesOnPastAFailingSession(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	// A broken session: its run state is not a hash.
	require.NoError(t, rdb.Set(ctx, keys.Run("broken"), "x", 0).Err())
	require.NoError(t, rdb.RPush(ctx, keys.Pending("broken"), "j").Err())
	require.NoError(t, rdb.ZAdd(ctx, keys.DueOf("broken"), redis.Z{Score: 1, Member: "broken"}).Err())
	ss := stuck(t, rdb, "fine", 4)
	s := newScheduler(t, rdb, scheduler.Config{FullScanEvery: -1})
	rep, err := s.Reconcile(ctx)
	require.NoError(t, err, "one failing session is not the pass's failure")
	require.Equal(t, 1, rep.Errors, "%+v", rep)
	require.Equal(t, len(ss), rep.Repaired, "%+v", rep)
	// Tried again later, not at once.
	score, err := rdb.ZScore(ctx, keys.DueOf("broken"), "broken").Result()
	require.NoError(t, err)
	require.Greater(t, score, float64(time.Now().UnixMilli()))
}

// A pass stops at its limit; the rest stays due for the next one.
func TestPassLimit(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	stuck(t, rdb, "s", 12)
	s := newScheduler(t, rdb, scheduler.Config{PassLimit: 5, FullScanEvery: -1})
	rep, err := s.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, 5, rep.Repaired, "%+v", rep)
	require.True(t, rep.More)
	total := rep.Repaired
	for range 3 {
		rep, err = s.Reconcile(ctx)
		require.NoError(t, err)
		total += rep.Repaired
	}
	require.Equal(t, 12, total)
}

// The full scan puts back a session the repair index lost, and the next
// pass repairs it.
func TestFullScanPutsBackALostEntry(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	ss := stuck(t, rdb, "lost", 1)
	require.NoError(t, rdb.Del(ctx, keys.DueOf(ss[0])).Err())
	noScan := newScheduler(t, rdb, scheduler.Config{FullScanEvery: -1})
	rep, err := noScan.Reconcile(ctx)
	require.NoError(t, err)
	require.Zero(t, rep.Repaired, "without the index the session is not seen")
	s := newScheduler(t, rdb, scheduler.Config{FullScanEvery: time.Millisecond})
	rep, err = s.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Reindexed, "%+v", rep)
	rep, err = s.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Repaired, "%+v", rep)
}

// A session with nothing left leaves the repair index at its next look;
// a session still running under its lease is looked at again when that
// lease runs out.
func TestIndexFollowsTheSession(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	led := ledger.New(rdb)
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	done, err := jc.Submit(ctx, "t", nil, jobs.Session("done"))
	require.NoError(t, err)
	r, err := led.Acquire(ctx, "done", done.ID, 1, "w", time.Minute)
	require.NoError(t, err)
	_, err = led.Finish(ctx, "done", done.ID, r.Job.Token, ledger.Outcome{OK: true},
		ledger.FinishOptions{Worker: "w", Lease: time.Minute, Retention: time.Hour, Queues: ",default,"})
	require.NoError(t, err)
	busy, err := jc.Submit(ctx, "t", nil, jobs.Session("busy"))
	require.NoError(t, err)
	r, err = led.Acquire(ctx, "busy", busy.ID, 1, "w", time.Hour)
	require.NoError(t, err)
	require.Equal(t, ledger.OK, r.Verdict)
	// Make both due now.
	for _, s := range []string{"done", "busy"} {
		require.NoError(t, rdb.ZAdd(ctx, keys.DueOf(s), redis.Z{Score: 1, Member: s}).Err())
	}
	s := newScheduler(t, rdb, scheduler.Config{FullScanEvery: -1})
	rep, err := s.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Looked, "%+v", rep)
	_, err = rdb.ZScore(ctx, keys.DueOf("done"), "done").Result()
	require.ErrorIs(t, err, redis.Nil, "an empty session leaves the index")
	score, err := rdb.ZScore(ctx, keys.DueOf("busy"), "busy").Result()
	require.NoError(t, err)
	require.InDelta(t, float64(time.Now().Add(time.Hour).UnixMilli()), score, float64(time.Minute.Milliseconds()),
		"a leased session is due when its lease runs out")
}

// The leader term must cover the time between two claims of a live leader.
func TestLeaderTermRule(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	for _, cfg := range []scheduler.Config{
		{Interval: time.Second, LeaderTerm: 1500 * time.Millisecond},
		{Interval: time.Second, PassBudget: 2 * time.Second, LeaderTerm: 3 * time.Second},
	} {
		_, err := scheduler.New(rdb, cfg)
		require.ErrorContains(t, err, "leader term", "%+v", cfg)
	}
	// The default is derived from the interval.
	_, err := scheduler.New(rdb, scheduler.Config{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
}

// A head whose asynq task a worker took but never acquired (the worker died
// between its dequeue and its acquire) is dispatched again after the
// dispatch grace, without waiting for asynq's own task lease.
func TestTaskTakenByADeadWorkerIsRedispatched(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	sub, err := jc.Submit(ctx, "t", nil, jobs.Session("taken"))
	require.NoError(t, err)
	// The dequeue of a worker that then dies: the task moves to asynq's
	// active list, and nothing acquires the head.
	taskID := ledger.TaskID(sub.ID, 1)
	require.NoError(t, rdb.LRem(ctx, "asynq:{default}:pending", 0, taskID).Err())
	require.NoError(t, rdb.LPush(ctx, "asynq:{default}:active", taskID).Err())
	require.NoError(t, rdb.HSet(ctx, "asynq:{default}:t:"+taskID, "state", "active").Err())
	require.NoError(t, rdb.ZAdd(ctx, keys.DueOf("taken"), redis.Z{Score: 1, Member: "taken"}).Err())
	s := newScheduler(t, rdb, scheduler.Config{DispatchGrace: time.Millisecond, FullScanEvery: -1})
	require.Eventually(t, func() bool {
		rep, err := s.Reconcile(ctx)
		require.NoError(t, err)
		return rep.Repaired == 1
	}, 5*time.Second, 10*time.Millisecond)
	in, err := jc.Get(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateWaitingForHandler, in.State, "ready to run; no live worker handles t")
	n, err := rdb.LLen(ctx, "asynq:{default}:pending").Result()
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "a new task waits in the queue")
}

// afterHook runs f after each command or pipeline that match says, once
// it has succeeded.
type afterHook struct {
	match func(cmd redis.Cmder) bool
	f     func()
}

func (h afterHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h afterHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && h.match(cmd) {
			h.f()
		}
		return err
	}
}

func (h afterHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if c.Err() == nil && h.match(c) {
				h.f()
				break
			}
		}
		return err
	}
}

// argIs says whether argument k of cmd is s.
func argIs(cmd redis.Cmder, k int, s string) bool {
	a := cmd.Args()
	return len(a) > k && fmt.Sprint(a[k]) == s
}

// A pass stopped while it looks at sessions changes nothing it has not
// finished, reports no error, and says it was stopped: the entries it did
// not finish stay due for the next leader (before, every session left was
// logged as an error and moved later).
func TestPassStoppedMidwayIsQuiet(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ss := stuck(t, rdb, "cut", 5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Stopped as soon as the first session's batch has been inspected.
	rdb.AddHook(afterHook{match: func(c redis.Cmder) bool { return argIs(c, 3, keys.Run(ss[0])) }, f: cancel})
	s := newScheduler(t, rdb, scheduler.Config{FullScanEvery: -1})
	rep, err := s.Reconcile(ctx)
	require.ErrorIs(t, err, context.Canceled, "%+v", rep)
	require.Zero(t, rep.Errors, "%+v", rep)
	bg := context.Background()
	score, err := rdb.ZScore(bg, keys.DueOf(ss[0]), ss[0]).Result()
	require.NoError(t, err)
	require.Less(t, score, float64(time.Now().UnixMilli()), "still due")
	snap, err := ledger.New(rdb).Inspect(bg, ss[0])
	require.NoError(t, err)
	require.NotEmpty(t, snap.LockJob, "not repaired by the stopped pass")
}

// The sessions a pass removed from the repair index (seen empty) are looked
// at once more even when the pass is stopped right after the removal: one
// that got a job meanwhile is put back.
func TestSecondLookSurvivesAStop(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	bg := context.Background()
	// A session seen empty by the pass: in the index, with no job.
	require.NoError(t, rdb.ZAdd(bg, keys.DueOf("late"), redis.Z{Score: 1, Member: "late"}).Err())
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	// Right after the removal a job arrives (its submit's index write came
	// before the pass read the entry), and the pass is stopped.
	rdb.AddHook(afterHook{match: func(c redis.Cmder) bool { return argIs(c, 4, "remove") }, f: func() {
		require.NoError(t, rdb.RPush(bg, keys.Pending("late"), "j").Err())
		cancel()
	}})
	s := newScheduler(t, rdb, scheduler.Config{FullScanEvery: -1})
	rep, _ := s.Reconcile(ctx)
	require.Zero(t, rep.Errors, "%+v", rep)
	_, err := rdb.ZScore(bg, keys.DueOf("late"), "late").Result()
	require.NoError(t, err, "the session with work is back in the repair index")
}
