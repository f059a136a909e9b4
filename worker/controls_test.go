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
	eventually(t, 5*time.Second, func() bool {
		in, err := c.Get(ctx, head.ID)
		return err == nil && in.State == jobs.StateRetrying
	}, "the head waits for its retry")
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
