package ledger_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/ledger"
)

// found reads a lookup's answer: its value, "" when not found.
func found(t *testing.T) func(string, bool, error) string {
	return func(v string, ok bool, err error) string {
		require.NoError(t, err)
		require.Equal(t, ok, v != "")
		return v
	}
}

// What Submit writes, ParseRecord reads back: the submitter's Job and the
// ledger's own fields, then a run's.
func TestRecordRoundTrip(t *testing.T) {
	ctx, _, l := setup(t)
	at := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	job := ledger.Job{Type: "t", Payload: []byte{0, 1, 255}, Queue: "q", MaxRetry: 2, Timeout: 3 * time.Second,
		Policy: "skip", AppID: "app", OutOfSession: true, ProcessAt: at}
	_, err := l.Submit(ctx, "s", "a", job, ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, "s", found(t)(l.SessionOf(ctx, "a")))
	require.Empty(t, found(t)(l.SessionOf(ctx, "nope")))

	r, err := l.Record(ctx, "s", "a")
	require.NoError(t, err)
	require.Equal(t, job, r.Job)
	require.Equal(t, "a", r.ID)
	require.Equal(t, "s", r.Session)
	require.EqualValues(t, 1, r.Seq)
	require.Equal(t, ledger.StatePending, r.State)
	require.EqualValues(t, 1, r.Gen)
	require.False(t, r.Created.IsZero())
	require.Nil(t, r.Result)

	a, err := l.Acquire(ctx, "s", "a", 1, "w1", time.Minute)
	require.NoError(t, err)
	_, err = l.Finish(ctx, "s", "a", a.Job.Token, ledger.Outcome{OK: true, Text: "done"}, opts)
	require.NoError(t, err)
	rs, err := l.Records(ctx, "s", []string{"x", "a"})
	require.NoError(t, err)
	require.Len(t, rs, 1, "a job without a record is left out")
	r = rs[0]
	require.Equal(t, ledger.StateSucceeded, r.State)
	require.Equal(t, []byte("done"), r.Result)
	require.Equal(t, a.Job.Token, r.Token)
	require.Equal(t, "w1", r.Worker)
	require.EqualValues(t, 1, r.Attempts)
	require.False(t, r.Started.IsZero())
	require.False(t, r.Finished.IsZero())

	r, err = l.Record(ctx, "s", "x")
	require.NoError(t, err)
	require.Nil(t, r)
}

// The reads of a session's run state: its backlog, its head, its live
// lease (Runs), and whether any lease is recorded.
func TestRunReads(t *testing.T) {
	ctx, _, l := setup(t)
	for _, id := range []string{"a", "b", "c"} {
		_, err := l.Submit(ctx, "s", id, fields(id), ledger.SubmitOptions{IndexTTL: time.Hour})
		require.NoError(t, err)
	}
	ids, n, err := l.Backlog(ctx, "s", 1, -1)
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c"}, ids)
	require.EqualValues(t, 3, n)
	require.Equal(t, "a", found(t)(l.Head(ctx, "s")))
	require.Empty(t, found(t)(l.Head(ctx, "idle")))
	qs, err := l.Queues(ctx, "s", []string{"a", "b", "gone"})
	require.NoError(t, err)
	require.Equal(t, []ledger.JobQueue{{ID: "a", State: "pending", Queue: "default"}, {ID: "b", State: "parked", Queue: "default"}}, qs)
	require.Equal(t, []bool{true, false}, l.HasJobs(ctx, []string{"s", "idle"}))

	leased, err := l.Leased(ctx, "s")
	require.NoError(t, err)
	require.False(t, leased)
	runs, err := l.Runs(ctx, []string{"s", "idle"})
	require.NoError(t, err)
	require.Equal(t, []ledger.RunState{{Backlog: 3}, {}}, runs)

	_, err = l.Acquire(ctx, "s", "a", 1, "w1", time.Minute)
	require.NoError(t, err)
	leased, err = l.Leased(ctx, "s")
	require.NoError(t, err)
	require.True(t, leased)
	runs, err = l.Runs(ctx, []string{"s"})
	require.NoError(t, err)
	require.Equal(t, "w1", runs[0].Holder)
	require.Equal(t, "a", runs[0].Job)
	require.WithinDuration(t, time.Now().Add(time.Minute), runs[0].Until, 5*time.Second)

	var seen []string
	require.NoError(t, l.EachSession(ctx, 100, func(_ context.Context, s string) error {
		seen = append(seen, s)
		return nil
	}))
	require.True(t, slices.Contains(seen, "s"), "scanned %v", seen)
}

// A dead letter is listed, deleted for good only while it is failed, and
// trimmed from the index once old.
func TestDeadLetters(t *testing.T) {
	ctx, _, l := setup(t)
	for _, id := range []string{"a", "b"} {
		_, err := l.Submit(ctx, "s", id, fields(id), ledger.SubmitOptions{IndexTTL: time.Hour})
		require.NoError(t, err)
	}
	a, err := l.Acquire(ctx, "s", "a", 1, "w", time.Minute)
	require.NoError(t, err)
	fr, err := l.Finish(ctx, "s", "a", a.Job.Token, ledger.Outcome{Text: "no", Final: true}, opts)
	require.NoError(t, err)
	require.Equal(t, ledger.StateFailed, fr.State)
	require.NoError(t, l.DeadLetter(ctx, "s", "a"))
	dead, err := l.Dead(ctx, 0, -1)
	require.NoError(t, err)
	require.Equal(t, []ledger.JobRef{{Session: "s", ID: "a"}}, dead)

	r, err := l.DeleteDead(ctx, "s", "b") // b runs now (inline): not dead
	require.NoError(t, err)
	require.Equal(t, ledger.DeleteResult{Verdict: ledger.NotDead, State: ledger.StateRunning}, r)
	r, err = l.DeleteDead(ctx, "s", "a")
	require.NoError(t, err)
	require.Equal(t, ledger.Deleted, r.Verdict)
	rec, err := l.Record(ctx, "s", "a")
	require.NoError(t, err)
	require.Nil(t, rec)
	require.Empty(t, found(t)(l.SessionOf(ctx, "a")), "the index goes with the record")
	dead, err = l.Dead(ctx, 0, -1)
	require.NoError(t, err)
	require.Empty(t, dead)
	r, err = l.DeleteDead(ctx, "s", "a")
	require.NoError(t, err)
	require.Equal(t, ledger.Gone, r.Verdict)

	require.NoError(t, l.DeadLetter(ctx, "s", "old"))
	require.NoError(t, l.TrimDead(ctx, time.Now().Add(time.Minute)))
	dead, err = l.Dead(ctx, 0, -1)
	require.NoError(t, err)
	require.Empty(t, dead)
}
