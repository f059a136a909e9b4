package ledger_test

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
)

func TestMain(m *testing.M) { redistest.Main(m) }

func fields(string) ledger.Job {
	return ledger.Job{Type: "t", Queue: "default", MaxRetry: 1, Timeout: time.Second, Policy: "block"}
}

// setup gives a parallel test a ledger on its own Redis.
func setup(t *testing.T) (context.Context, *redis.Client, *ledger.Ledger) {
	t.Helper()
	t.Parallel()
	rdb, _ := redistest.Client(t)
	return context.Background(), rdb, ledger.New(rdb)
}

var opts = ledger.FinishOptions{Worker: "w", Lease: time.Second, Retention: time.Hour, Queues: ",default,", Inline: true}

// Every verdict of the acquire script, in the situations that produce it.
func TestAcquireVerdicts(t *testing.T) {
	ctx, rdb, l := setup(t)
	a, err := l.Submit(ctx, "s", "a", fields("a"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.SubmitResult{Verdict: ledger.Dispatch, State: "pending", Seq: 1, Gen: 1}, a)
	b, err := l.Submit(ctx, "s", "b", fields("b"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.SubmitResult{Verdict: ledger.Parked, State: "parked", Seq: 2, Gen: 0}, b)
	again, err := l.Submit(ctx, "s", "a", fields("a"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.Exists, again.Verdict)

	acquire := func(id string, gen int64) ledger.AcquireResult {
		r, err := l.Acquire(ctx, "s", id, gen, "w", time.Second)
		require.NoError(t, err)
		return r
	}
	require.Equal(t, ledger.Gone, acquire("nope", 1).Verdict)
	require.Equal(t, ledger.Stale, acquire("a", 7).Verdict)
	b0 := acquire("b", 0) // b is not the head: it stays parked
	require.Equal(t, ledger.Wait, b0.Verdict)
	ok := acquire("a", 1)
	require.Equal(t, ledger.OK, ok.Verdict)
	require.EqualValues(t, 1, ok.Job.Attempt)
	require.False(t, ok.Job.Active, "no session record: inactive")
	require.Equal(t, ledger.Busy, acquire("a", 1).Verdict, "a duplicate delivery must not run")

	// Finishing a passes the lease to b inline with a larger token.
	fr, err := l.Finish(ctx, "s", "a", ok.Job.Token, ledger.Outcome{OK: true, Text: "res"}, opts)
	require.NoError(t, err)
	require.Equal(t, ledger.Finished, fr.Verdict)
	require.Equal(t, ledger.StateSucceeded, fr.State)
	require.Equal(t, ledger.Run, fr.Next)
	require.Equal(t, "b", fr.Run.ID)
	require.Greater(t, fr.Run.Token, ok.Job.Token)
	require.Equal(t, ledger.Done, acquire("a", 1).Verdict)
	// A stale finish of a changes nothing.
	st, err := l.Finish(ctx, "s", "a", ok.Job.Token, ledger.Outcome{OK: true}, opts)
	require.NoError(t, err)
	require.Equal(t, ledger.Stale, st.Verdict)
	// b ends the session: the lease is released and the list is gone.
	fr, err = l.Finish(ctx, "s", "b", fr.Run.Token, ledger.Outcome{OK: true}, opts)
	require.NoError(t, err)
	require.Equal(t, ledger.None, fr.Next)
	require.Zero(t, rdb.Exists(ctx, keys.Pending("s")).Val())
	require.False(t, rdb.HExists(ctx, keys.Run("s"), "job").Val())
	ttl := rdb.PTTL(ctx, keys.Run("s")).Val()
	require.Greater(t, ttl, time.Duration(0), "an idle run hash expires")
}

// An expired lease is taken over by a new delivery with a larger token;
// the old holder can neither renew nor finish.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	ctx, _, l := setup(t)
	_, err := l.Submit(ctx, "s", "a", fields("a"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	first, err := l.Acquire(ctx, "s", "a", 1, "w1", 50*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, ledger.OK, first.Verdict)
	require.Eventually(t, func() bool {
		r, err := l.Acquire(ctx, "s", "a", 1, "w2", time.Second)
		return err == nil && r.Verdict == ledger.OK && r.Job.Token > first.Job.Token
	}, 2*time.Second, 10*time.Millisecond)
	r, err := l.Renew(ctx, "s", "a", first.Job.Token, time.Second)
	require.NoError(t, err)
	require.Equal(t, ledger.LeaseLost, r)
	fr, err := l.Finish(ctx, "s", "a", first.Job.Token, ledger.Outcome{OK: true}, opts)
	require.NoError(t, err)
	require.Equal(t, ledger.Stale, fr.Verdict)
}

// The pipelined submit survives a Redis that lost its script cache.
func TestSubmitAfterScriptFlush(t *testing.T) {
	ctx, rdb, l := setup(t)
	_, err := l.Submit(ctx, "s", "a", fields("a"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	r, err := l.Submit(ctx, "s", "b", fields("b"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.Parked, r.Verdict)
	require.Equal(t, "s", rdb.Get(ctx, keys.JobIndex("b")).Val())
}

// Redispatch is compare-and-set: it acts on the snapshot it was given only.
func TestRedispatchIsCompareAndSet(t *testing.T) {
	ctx, rdb, l := setup(t)
	_, err := l.Submit(ctx, "s", "a", fields("a"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	snap, err := l.Inspect(ctx, "s")
	require.NoError(t, err)
	require.Equal(t, "a", snap.Head)
	require.Equal(t, "pending", snap.State)
	// The session moves (a worker takes the lease) after the snapshot.
	_, err = l.Acquire(ctx, "s", "a", 1, "w", time.Second)
	require.NoError(t, err)
	verdict, task, err := l.Redispatch(ctx, snap)
	require.NoError(t, err)
	require.Equal(t, ledger.Moved, verdict)
	require.Nil(t, task)
	// On a fresh snapshot of an expired lease it acts, with a new generation.
	require.NoError(t, rdb.HSet(ctx, keys.Run("s"), "until", 1).Err())
	snap, err = l.Inspect(ctx, "s")
	require.NoError(t, err)
	verdict, task, err = l.Redispatch(ctx, snap)
	require.NoError(t, err)
	require.Equal(t, ledger.Redispatched, verdict)
	require.EqualValues(t, 2, task.Gen)
	r, err := l.Acquire(ctx, "s", "a", 1, "w", time.Second)
	require.NoError(t, err)
	require.Equal(t, ledger.Stale, r.Verdict, "the old dispatch is dropped")
}

// While a session's event stream exists (it is followed), every change a
// follower must see is on it: a submit, a start, the end of a job cancelled
// or skipped while it waited, a requeue, and each end.
func TestEventStreamHasEveryChange(t *testing.T) {
	ctx, rdb, l := setup(t)
	ev := keys.SessionEvents("s")
	require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: ev, Values: []any{"type", "stream.followed"}}).Err())
	sub := func(id string) {
		_, err := l.Submit(ctx, "s", id, fields(id), ledger.SubmitOptions{IndexTTL: time.Hour})
		require.NoError(t, err)
	}
	sub("a")
	sub("b")
	sub("c")
	ar, err := l.Acquire(ctx, "s", "a", 1, "w", time.Minute)
	require.NoError(t, err)
	cr, err := l.Cancel(ctx, "s", "b", time.Hour) // b waits behind a
	require.NoError(t, err)
	require.Equal(t, ledger.Cancelled, cr.Verdict)
	fr, err := l.Finish(ctx, "s", "a", ar.Job.Token, ledger.Outcome{Text: "no", Final: true}, opts)
	require.NoError(t, err)
	require.Equal(t, ledger.Finished, fr.Verdict)
	require.Equal(t, ledger.StateFailed, fr.State)
	require.Equal(t, ledger.Run, fr.Next, "c runs inline")
	rq, err := l.Requeue(ctx, "s", "a", time.Hour) // a failed; c has started since: tail
	require.NoError(t, err)
	require.Equal(t, ledger.Requeued, rq.Verdict)

	msgs, err := rdb.XRange(ctx, ev, "-", "+").Result()
	require.NoError(t, err)
	var got []string
	for _, m := range msgs[1:] {
		got = append(got, fmt.Sprint(m.Values["type"], " ", m.Values["job"], " ", m.Values["state"], " ", m.Values["seq"]))
	}
	require.Equal(t, []string{
		"job.submitted a pending 1",
		"job.submitted b parked 2",
		"job.submitted c parked 3",
		"job.started a running 1",
		"job.ended b cancelled 2",
		"job.ended a failed 1",
		"job.started c running 3",
		"job.requeued a parked 1",
	}, got)
}
