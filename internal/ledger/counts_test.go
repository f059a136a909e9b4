package ledger_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/ledger"
)

// Every end the ledger writes is counted for its queue and day: a success,
// a success run inline after it, a failure for good, a cancel of a waiting
// job and a skip; a retry and a stale finish are not ends.
func TestSessionJobEndsAreCounted(t *testing.T) {
	ctx, rdb, l := setup(t)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		_, err := l.Submit(ctx, "s", id, fields(id), ledger.SubmitOptions{IndexTTL: time.Hour})
		require.NoError(t, err)
	}
	a, err := l.Acquire(ctx, "s", "a", 1, "w", time.Second)
	require.NoError(t, err)
	fr, err := l.Finish(ctx, "s", "a", a.Job.Token, ledger.Outcome{OK: true}, opts)
	require.NoError(t, err)
	require.Equal(t, ledger.Run, fr.Next, "b runs inline: no asynq task")
	stale, err := l.Finish(ctx, "s", "a", a.Job.Token, ledger.Outcome{OK: true}, opts)
	require.NoError(t, err)
	require.Equal(t, ledger.Stale, stale.Verdict)
	b := fr.Run
	fr, err = l.Finish(ctx, "s", "b", b.Token, ledger.Outcome{OK: true}, ledger.FinishOptions{Worker: "w", Lease: time.Second, Retention: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.Enqueue, fr.Next)
	c, err := l.Acquire(ctx, "s", "c", fr.Task.Gen, "w", time.Second)
	require.NoError(t, err)
	fr, err = l.Finish(ctx, "s", "c", c.Job.Token, ledger.Outcome{Text: "boom"}, ledger.FinishOptions{Worker: "w", Lease: time.Second, Retention: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.Retry, fr.Verdict, "a retry is no end")
	c, err = l.Acquire(ctx, "s", "c", fr.Retry.Gen, "w", time.Second)
	require.NoError(t, err)
	fr, err = l.Finish(ctx, "s", "c", c.Job.Token, ledger.Outcome{Text: "boom", Final: true}, ledger.FinishOptions{Worker: "w", Lease: time.Second, Retention: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.StateFailed, fr.State)
	cr, err := l.Cancel(ctx, "s", "e", time.Hour)
	require.NoError(t, err)
	require.Equal(t, ledger.Cancelled, cr.Verdict)
	sr, err := l.Skip(ctx, "s", "d", time.Hour)
	require.NoError(t, err)
	require.Equal(t, ledger.Cancelled, sr.Verdict)
	again, err := l.Cancel(ctx, "s", "e", time.Hour)
	require.NoError(t, err)
	require.Equal(t, ledger.Done, again.Verdict, "an ended job is not counted twice")

	got, err := l.QueueCounts(ctx, "default", time.Now())
	require.NoError(t, err)
	require.Equal(t, ledger.Counts{Succeeded: 2, Failed: 2, Cancelled: 1}, got)
	require.EqualValues(t, 5, got.Processed())
	other, err := l.QueueCounts(ctx, "other", time.Now())
	require.NoError(t, err)
	require.Zero(t, other)
	ttl := rdb.TTL(ctx, "sq:qc:{default}:"+time.Now().UTC().Format(time.DateOnly)).Val()
	require.Greater(t, ttl, 89*24*time.Hour, "kept 90 days, as asynq's daily stats")
}

// A failed session job is failed for asynq's own tools too (its Inspector,
// which asynqmon and `asynq stats` read), though its carrier succeeded.
func TestFailedSessionJobIsFailedForAsynq(t *testing.T) {
	ctx, rdb, l := setup(t)
	require.NoError(t, rdb.SAdd(ctx, "asynq:queues", "default").Err())
	_, err := l.Submit(ctx, "s", "a", fields("a"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	a, err := l.Acquire(ctx, "s", "a", 1, "w", time.Second)
	require.NoError(t, err)
	_, err = l.Finish(ctx, "s", "a", a.Job.Token, ledger.Outcome{Text: "boom", Final: true}, opts)
	require.NoError(t, err)
	require.NoError(t, l.CountEnded(ctx, "default", ledger.StateFailed)) // a plain job: asynq counted it itself
	qi, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo("default")
	require.NoError(t, err)
	require.Equal(t, 1, qi.Failed)
	require.Equal(t, 1, qi.FailedTotal)
	c, err := l.QueueCounts(ctx, "default", time.Now())
	require.NoError(t, err)
	require.EqualValues(t, 2, c.Failed)
}
