package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// A paused session starts no new job: its running job finishes, the rest
// wait, in order, until it is resumed; other sessions go on meanwhile. It
// works for a session ID that names no session record.
func TestSessionPauseAndResume(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var mu sync.Mutex
	var ran []string
	release := make(chan struct{})
	startWorker(t, rdb, worker.Config{Concurrency: 2}, map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error {
			mu.Lock()
			ran = append(ran, j.SessionID+":"+string(j.Payload))
			mu.Unlock()
			if string(j.Payload) == "1" && j.SessionID == "p" {
				<-release
			}
			return nil
		},
	})
	var ids []string
	for _, p := range []string{"1", "2", "3"} {
		sub, err := c.Submit(ctx, "doc", []byte(p), jobs.Session("p"))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	eventually(t, 5*time.Second, func() bool {
		in, err := c.Get(ctx, ids[0])
		return err == nil && in.State == jobs.StateRunning
	}, "job 1 runs")
	require.NoError(t, c.PauseSession(ctx, "p"))
	close(release) // job 1 finishes while paused
	other, err := c.Submit(ctx, "doc", []byte("x"), jobs.Session("other"))
	require.NoError(t, err)
	waitTerminal(t, c, []string{ids[0], other.ID}, 5*time.Second)
	// A job submitted to the paused session waits too.
	late, err := c.Submit(ctx, "doc", []byte("4"), jobs.Session("p"))
	require.NoError(t, err)
	// Nothing more of p starts, however long we look (the repair pass
	// runs every 50 ms and must leave it alone).
	time.Sleep(500 * time.Millisecond) //nolint:forbidigo // asserting that nothing happens for a while
	for _, id := range append(ids[1:], late.ID) {
		in, err := c.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, jobs.StateParked, in.State, id)
	}
	backlog, n, err := c.SessionJobs(ctx, "p", 0, 10)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	require.Equal(t, []string{ids[1], ids[2], late.ID}, []string{backlog[0].ID, backlog[1].ID, backlog[2].ID})
	require.NoError(t, c.ResumeSession(ctx, "p"))
	waitTerminal(t, c, append(ids[1:], late.ID), 5*time.Second)
	mu.Lock()
	defer mu.Unlock()
	var pOrder []string
	for _, r := range ran {
		if r[0] == 'p' {
			pOrder = append(pOrder, r)
		}
	}
	require.Equal(t, []string{"p:1", "p:2", "p:3", "p:4"}, pOrder)
}

// session skip dead-letters a blocked head on purpose and the session goes
// on; a running head is refused.
func TestSessionSkip(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	failed := make(chan struct{}, 100)
	startWorker(t, rdb, worker.Config{
		Concurrency: 1,
		RetryDelay:  func(int, error) time.Duration { return time.Hour }, // blocked for an hour
	}, map[string]worker.HandlerFunc{
		"poison": func(context.Context, *worker.Job) error {
			failed <- struct{}{}
			return errors.New("boom")
		},
		"doc": func(context.Context, *worker.Job) error { return nil },
	})
	head, err := c.Submit(ctx, "poison", nil, jobs.Session("blocked"), jobs.MaxRetry(5))
	require.NoError(t, err)
	next, err := c.Submit(ctx, "doc", nil, jobs.Session("blocked"))
	require.NoError(t, err)
	<-failed
	waitState(t, c, head.ID, jobs.StateRetrying)
	id, err := c.SkipHead(ctx, "blocked")
	require.NoError(t, err)
	require.Equal(t, head.ID, id)
	infos := waitTerminal(t, c, []string{head.ID, next.ID}, 5*time.Second)
	require.Equal(t, jobs.StateFailed, infos[head.ID].State)
	require.Contains(t, infos[head.ID].LastError, "skipped")
	require.Equal(t, jobs.StateSucceeded, infos[next.ID].State)
	dead, err := rdb.ZRange(ctx, keys.Dead, 0, -1).Result()
	require.NoError(t, err)
	require.Contains(t, dead, "blocked/"+head.ID)
	_, err = c.SkipHead(ctx, "blocked")
	require.ErrorIs(t, err, jobs.ErrNotHead, "nothing left to skip")
}

// A session's backlog is capped: a submit beyond the cap fails with a clear
// error and writes nothing.
func TestMaxBacklog(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{MaxBacklog: 2})
	require.NoError(t, err)
	for range 2 {
		_, err := c.Submit(ctx, "doc", nil, jobs.Session("capped"))
		require.NoError(t, err)
	}
	before, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	_, err = c.Submit(ctx, "doc", nil, jobs.Session("capped"))
	require.ErrorIs(t, err, jobs.ErrBacklogFull)
	var full *jobs.BacklogFullError
	require.ErrorAs(t, err, &full)
	require.EqualValues(t, 2, full.Backlog)
	require.Contains(t, err.Error(), "maximum backlog is 2")
	after, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Equal(t, before, after, "a refused submit writes nothing")
	// The per-submit option overrides the client's cap.
	_, err = c.Submit(ctx, "doc", nil, jobs.Session("capped"), jobs.MaxBacklog(3))
	require.NoError(t, err)
	_, err = c.Submit(ctx, "doc", nil, jobs.MaxBacklog(3))
	require.ErrorIs(t, err, jobs.ErrInvalid, "a cap needs a session")
}

// A dead-lettered session job requeued goes back to the head of its
// session when no later job has started since (the jobs behind it keep
// waiting behind it), and to the tail when the session has moved on.
func TestRequeueDeadSessionJob(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var mu sync.Mutex
	var ran []string
	failFirst := map[string]bool{}
	release, aGate := make(chan struct{}), make(chan struct{})
	startWorker(t, rdb, worker.Config{Concurrency: 2}, map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error {
			p := string(j.Payload)
			mu.Lock()
			ran = append(ran, j.SessionID+":"+p)
			first := !failFirst[j.SessionID+p]
			failFirst[j.SessionID+p] = true
			mu.Unlock()
			switch {
			case p == "a" && first:
				if j.SessionID == "h" {
					<-aGate
				}
				return errors.New("fails once")
			case p == "b2":
				<-release
			}
			return nil
		},
	})
	order := func(s string) []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, r := range ran {
			if len(r) > len(s) && r[:len(s)+1] == s+":" {
				out = append(out, r[len(s)+1:])
			}
		}
		return out
	}

	// Head: a fails while the session is paused, so b has not started.
	a, err := c.Submit(ctx, "doc", []byte("a"), jobs.Session("h"), jobs.MaxRetry(0))
	require.NoError(t, err)
	b, err := c.Submit(ctx, "doc", []byte("b"), jobs.Session("h"))
	require.NoError(t, err)
	waitState(t, c, a.ID, jobs.StateRunning)
	require.NoError(t, c.PauseSession(ctx, "h"))
	close(aGate)
	require.Equal(t, jobs.StateFailed, waitTerminal(t, c, []string{a.ID}, 5*time.Second)[a.ID].State)
	waitDeadLetter(t, c, a.ID)
	where, err := c.RequeueDead(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.RequeuedHead, where)
	require.NoError(t, c.ResumeSession(ctx, "h"))
	for id, in := range waitTerminal(t, c, []string{a.ID, b.ID}, 5*time.Second) {
		require.Equal(t, jobs.StateSucceeded, in.State, id)
	}
	require.Equal(t, []string{"a", "a", "b"}, order("h"))

	// Tail: a2 fails, b2 has started (and runs), c2 waits: a2 goes last.
	a2, err := c.Submit(ctx, "doc", []byte("a"), jobs.Session("t"), jobs.MaxRetry(0))
	require.NoError(t, err)
	b2, err := c.Submit(ctx, "doc", []byte("b2"), jobs.Session("t"))
	require.NoError(t, err)
	c2, err := c.Submit(ctx, "doc", []byte("c2"), jobs.Session("t"))
	require.NoError(t, err)
	waitState(t, c, b2.ID, jobs.StateRunning)
	// An operator requeues what the dead letters show.
	waitDeadLetter(t, c, a2.ID)
	where, err = c.RequeueDead(ctx, a2.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.RequeuedTail, where)
	_, err = c.RequeueDead(ctx, c2.ID)
	require.ErrorIs(t, err, jobs.ErrNotDead)
	close(release)
	for id, in := range waitTerminal(t, c, []string{a2.ID, b2.ID, c2.ID}, 5*time.Second) {
		require.Equal(t, jobs.StateSucceeded, in.State, id)
	}
	require.Equal(t, []string{"a", "b2", "c2", "a"}, order("t"))
	dead, err := rdb.ZCard(ctx, keys.Dead).Result()
	require.NoError(t, err)
	require.Zero(t, dead, "requeued jobs leave the dead letters")
}

// A job of a paused queue does not run, even as the next job of a session
// that a slot could run inline: it waits in its queue until the queue is
// resumed.
func TestPausedQueueHoldsSessionJobs(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	gate := make(chan struct{})
	var mu sync.Mutex
	var ran []string
	startWorker(t, rdb, worker.Config{Concurrency: 2}, map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error {
			mu.Lock()
			ran = append(ran, string(j.Payload))
			mu.Unlock()
			if string(j.Payload) == "1" {
				<-gate
			}
			return nil
		},
	})
	first, err := c.Submit(ctx, "doc", []byte("1"), jobs.Session("q"))
	require.NoError(t, err)
	second, err := c.Submit(ctx, "doc", []byte("2"), jobs.Session("q"))
	require.NoError(t, err)
	waitState(t, c, first.ID, jobs.StateRunning)
	require.NoError(t, c.PauseQueue(ctx, "default"))
	// PauseQueue announces the pause; the worker's look at it is
	// asynchronous: let it happen.
	time.Sleep(400 * time.Millisecond) //nolint:forbidigo // the pause must be seen before job 1 ends
	close(gate)
	waitTerminal(t, c, []string{first.ID}, 5*time.Second)
	time.Sleep(400 * time.Millisecond) //nolint:forbidigo // asserting that job 2 does not start meanwhile
	in, err := c.Get(ctx, second.ID)
	require.NoError(t, err)
	require.NotEqual(t, jobs.StateSucceeded, in.State, "job 2 ran out of a paused queue")
	require.NoError(t, c.ResumeQueue(ctx, "default"))
	require.Equal(t, jobs.StateSucceeded, waitTerminal(t, c, []string{second.ID}, 5*time.Second)[second.ID].State)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"1", "2"}, ran)
}
