package worker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// Cancelling a waiting job removes it from its session, which goes on;
// cancelling a running one cancels its handler's context and ends it
// cancelled.
func TestCancelWaitingAndRunningJobs(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	// Before any worker: the head (a) and a parked job (c) are cancelled.
	a, err := c.Submit(ctx, "doc", []byte("a"), jobs.Session("x"))
	require.NoError(t, err)
	b, err := c.Submit(ctx, "block", []byte("b"), jobs.Session("x"))
	require.NoError(t, err)
	cc, err := c.Submit(ctx, "doc", []byte("c"), jobs.Session("x"))
	require.NoError(t, err)
	d, err := c.Submit(ctx, "doc", []byte("d"), jobs.Session("x"))
	require.NoError(t, err)
	for _, id := range []string{a.ID, cc.ID} {
		st, err := c.Cancel(ctx, id)
		require.NoError(t, err)
		require.Equal(t, jobs.StateCancelled, st)
	}
	var mu sync.Mutex
	var ran []string
	causes := make(chan error, 1)
	startWorker(t, rdb, worker.Config{Concurrency: 2, Lease: time.Second}, map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error {
			mu.Lock()
			ran = append(ran, string(j.Payload))
			mu.Unlock()
			return nil
		},
		"block": func(ctx context.Context, j *worker.Job) error {
			mu.Lock()
			ran = append(ran, string(j.Payload))
			mu.Unlock()
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		},
	})
	eventually(t, 5*time.Second, func() bool {
		in, err := c.Get(ctx, b.ID)
		return err == nil && in.State == jobs.StateRunning
	}, "b runs")
	st, err := c.Cancel(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateRunning, st, "a running job is cancelled at its next renewal")
	select {
	case cause := <-causes:
		require.ErrorIs(t, cause, worker.ErrCancelled)
	case <-time.After(5 * time.Second):
		t.Fatal("running job not cancelled")
	}
	infos := waitTerminal(t, c, []string{a.ID, b.ID, cc.ID, d.ID}, 10*time.Second)
	require.Equal(t, jobs.StateCancelled, infos[a.ID].State)
	require.Equal(t, jobs.StateCancelled, infos[b.ID].State)
	require.Equal(t, jobs.StateCancelled, infos[cc.ID].State)
	require.Equal(t, jobs.StateSucceeded, infos[d.ID].State)
	mu.Lock()
	require.Equal(t, []string{"b", "d"}, ran)
	mu.Unlock()
	// Cancelling an ended job changes nothing.
	st, err = c.Cancel(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateSucceeded, st)
	_, err = c.Cancel(ctx, "no-such-job")
	require.ErrorIs(t, err, jobs.ErrNotFound)
}
