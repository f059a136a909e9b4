package jobs_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessionqtest"
	"github.com/sessionq/sessionq/worker"
)

var errOnPurpose = errors.New("failed on purpose")

// A dead-lettered plain job is retried (it runs again) or deleted; a job
// that is not dead is refused both.
func TestRetryAndDeletePlainDeadLetters(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := t.Context()
	var runs atomic.Int64
	startWorker(t, rdb, nil, map[string]worker.HandlerFunc{
		// fails its first run, succeeds after
		"flaky": func(context.Context, *worker.Job) error {
			if runs.Add(1) == 1 {
				return errOnPurpose
			}
			return nil
		},
		"fail": func(context.Context, *worker.Job) error { return errOnPurpose },
	})
	flaky, err := c.Submit(ctx, "flaky", nil, jobs.MaxRetry(0))
	require.NoError(t, err)
	waitState(t, c, flaky.ID, jobs.StateFailed)
	dead, err := c.List(ctx, jobs.ListOptions{State: "dead"})
	require.NoError(t, err)
	require.Equal(t, []string{flaky.ID}, ids(dead))

	st, err := c.Retry(ctx, flaky.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StatePending, st)
	waitState(t, c, flaky.ID, jobs.StateSucceeded)
	require.EqualValues(t, 2, runs.Load())
	_, err = c.Retry(ctx, flaky.ID)
	require.ErrorIs(t, err, jobs.ErrNotDead)
	require.ErrorIs(t, c.Delete(ctx, flaky.ID), jobs.ErrNotDead)

	fail, err := c.Submit(ctx, "fail", nil, jobs.MaxRetry(0))
	require.NoError(t, err)
	waitState(t, c, fail.ID, jobs.StateFailed)
	require.NoError(t, c.Delete(ctx, fail.ID))
	_, err = c.Get(ctx, fail.ID)
	require.ErrorIs(t, err, jobs.ErrNotFound)
	require.ErrorIs(t, c.Delete(ctx, fail.ID), jobs.ErrNotFound)
	_, err = c.Retry(ctx, "jnosuchjob")
	require.ErrorIs(t, err, jobs.ErrNotFound)
	require.ErrorIs(t, c.Delete(ctx, "a{b"), jobs.ErrInvalid)
}

// A dead-lettered session job is deleted from its record and from the
// dead-letter set (requeueing one: worker/TestRequeueDeadSessionJob).
func TestDeleteSessionDeadLetter(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := t.Context()
	startWorker(t, rdb, nil, map[string]worker.HandlerFunc{
		"fail": func(context.Context, *worker.Job) error { return errOnPurpose },
	})
	sub, err := c.Submit(ctx, "fail", nil, jobs.Session("s"), jobs.MaxRetry(0))
	require.NoError(t, err)
	waitState(t, c, sub.ID, jobs.StateFailed)
	// The dead-letter index (a key of its own, in another slot) is written
	// right after the record says failed.
	sessionqtest.Eventually(t, 5*time.Second, func() bool {
		dead, err := c.List(ctx, jobs.ListOptions{Session: "s", State: "failed"})
		require.NoError(t, err)
		return slices.Equal([]string{sub.ID}, ids(dead))
	}, "the job in the session's dead letters")

	require.NoError(t, c.Delete(ctx, sub.ID))
	_, err = c.Get(ctx, sub.ID)
	require.ErrorIs(t, err, jobs.ErrNotFound)
	dl, err := c.DeadLetters(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, dl)
	n, err := rdb.ZCard(ctx, "sq:dead").Result()
	require.NoError(t, err)
	require.Zero(t, n, "the dead-letter entry is gone")
}

// Cancelling a running plain job cancels its handler's context, and the
// job is not retried.
func TestCancelRunningPlainJob(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := t.Context()
	started := make(chan struct{}, 1)
	var runs atomic.Int64
	startWorker(t, rdb, nil, map[string]worker.HandlerFunc{
		"block": func(ctx context.Context, _ *worker.Job) error {
			runs.Add(1)
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		},
	})
	sub, err := c.Submit(ctx, "block", nil, jobs.MaxRetry(5))
	require.NoError(t, err)
	<-started
	waitState(t, c, sub.ID, jobs.StateRunning)
	st, err := c.Cancel(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateCancelled, st)
	_, err = c.Get(ctx, sub.ID)
	require.ErrorIs(t, err, jobs.ErrNotFound, "the job is gone, not waiting for a retry")
	require.EqualValues(t, 1, runs.Load())
}

// Pausing a queue stops its jobs, plain and session, while other queues
// run; resuming runs them. Queues counts them.
func TestPauseQueue(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := t.Context()
	require.NoError(t, c.PauseQueue(ctx, "slow"))
	require.NoError(t, c.PauseQueue(ctx, "slow"), "pausing twice is fine")
	ok := func(context.Context, *worker.Job) error { return nil }
	startWorker(t, rdb, []string{"slow", "fast"}, map[string]worker.HandlerFunc{
		"t":    ok,
		"fail": func(context.Context, *worker.Job) error { return errOnPurpose },
	})
	plain, err := c.Submit(ctx, "t", nil, jobs.Queue("slow"))
	require.NoError(t, err)
	var sess []string
	for range 3 {
		sub, err := c.Submit(ctx, "t", nil, jobs.Queue("slow"), jobs.Session("s"))
		require.NoError(t, err)
		sess = append(sess, sub.ID)
	}
	failed, err := c.Submit(ctx, "fail", nil, jobs.Queue("fast"), jobs.MaxRetry(0))
	require.NoError(t, err)
	fast, err := c.Submit(ctx, "t", nil, jobs.Queue("fast"))
	require.NoError(t, err)
	waitState(t, c, fast.ID, jobs.StateSucceeded)
	waitState(t, c, failed.ID, jobs.StateFailed)

	qs, err := c.Queues(ctx)
	require.NoError(t, err)
	i := slices.IndexFunc(qs, func(q jobs.QueueInfo) bool { return q.Name == "slow" })
	require.GreaterOrEqual(t, i, 0, "%+v", qs)
	require.Equal(t, jobs.QueueInfo{Name: "slow", Paused: true, Pending: 2, Parked: 2}, qs[i])
	require.Equal(t, 4, qs[i].Depth())
	i = slices.IndexFunc(qs, func(q jobs.QueueInfo) bool { return q.Name == "fast" })
	require.Equal(t, jobs.QueueInfo{Name: "fast", Dead: 1, Processed: 2, Succeeded: 1, Failed: 1}, qs[i])
	for _, id := range append([]string{plain.ID}, sess...) {
		in, err := c.Get(ctx, id)
		require.NoError(t, err)
		require.False(t, in.State.Terminal(), "job %s ran in a paused queue", id)
	}

	require.NoError(t, c.ResumeQueue(ctx, "slow"))
	require.NoError(t, c.ResumeQueue(ctx, "slow"), "resuming twice is fine")
	for _, id := range append([]string{plain.ID}, sess...) {
		waitState(t, c, id, jobs.StateSucceeded)
	}
	// Session jobs count as they end, next to the plain one (the count
	// follows the end: poll for it).
	var slow jobs.QueueInfo
	require.Eventually(t, func() bool {
		qs, err := c.Queues(ctx)
		require.NoError(t, err)
		slow = qs[slices.IndexFunc(qs, func(q jobs.QueueInfo) bool { return q.Name == "slow" })]
		return slow.Succeeded == 4
	}, 10*time.Second, 20*time.Millisecond, "%+v", slow)
	require.Equal(t, 4, slow.Processed)
	require.ErrorIs(t, c.PauseQueue(ctx, "a:b"), jobs.ErrInvalid)
}
