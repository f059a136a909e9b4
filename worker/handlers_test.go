package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// runLog records which worker ran which job, in start order.
type runLog struct {
	mu   sync.Mutex
	runs []string // "worker/job"
	by   map[string]string
}

func (l *runLog) handler(name string) worker.HandlerFunc {
	return func(_ context.Context, j *worker.Job) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.by == nil {
			l.by = map[string]string{}
		}
		l.runs = append(l.runs, name+"/"+j.ID)
		l.by[j.ID] = name
		return nil
	}
}

func (l *runLog) worker(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.by[id]
}

func (l *runLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.runs)
}

// declined reads a worker's sessionq_tasks_declined_total for jobType.
func declined(reg *prometheus.Registry, jobType, reason string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "sessionq_tasks_declined_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			if ls["type"] == jobType && ls["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Two workers on one queue, one without a handler for type "t": every job
// of "t", plain or of a session, with no retry to spare, runs once on the
// worker that handles it; the other hands the tasks it takes back without
// charging an attempt.
func TestJobRunsOnWorkerWithItsHandler(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var log runLog
	regB := prometheus.NewRegistry()
	startWorker(t, rdb, worker.Config{ID: "b", Concurrency: 4, Registerer: regB}, map[string]worker.HandlerFunc{
		"u": log.handler("b"),
	})
	startWorker(t, rdb, worker.Config{ID: "a", Concurrency: 4}, map[string]worker.HandlerFunc{
		"t": log.handler("a"), "u": log.handler("a"),
	})
	var ids []string
	for i := range 30 {
		opts := []jobs.Option{jobs.MaxRetry(0)}
		if i%2 == 0 {
			opts = append(opts, jobs.Session(fmt.Sprintf("s%d", i%3)))
		}
		sub, err := c.Submit(ctx, "t", nil, opts...)
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	got := waitTerminal(t, c, ids, 30*time.Second)
	for _, id := range ids {
		in := got[id]
		require.Equal(t, jobs.StateSucceeded, in.State, "job %s: %+v", id, in)
		require.Equal(t, 1, in.Attempts, "job %s: one attempt", id)
		require.Equal(t, 0, in.MaxRetry, "job %s", id)
		require.Equal(t, "a", log.worker(id), "job %s ran on the worker with its handler", id)
	}
	require.Equal(t, len(ids), log.count(), "each job ran once")
	require.Positive(t, declined(regB, "t", "handled_elsewhere"), "worker b took tasks of t and handed them back")
	dl, err := c.DeadLetters(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, dl)
}

// A session whose jobs alternate between two types, each handled by one
// worker only: a worker never runs the next job of its session inline
// when it has no handler for it; it dispatches it to a worker that has.
// The session's order holds and no attempt is charged.
func TestSessionAlternatesBetweenWorkersByType(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var log runLog
	startWorker(t, rdb, worker.Config{ID: "a", Concurrency: 2}, map[string]worker.HandlerFunc{"t": log.handler("a")})
	startWorker(t, rdb, worker.Config{ID: "b", Concurrency: 2}, map[string]worker.HandlerFunc{"u": log.handler("b")})
	var ids []string
	for i := range 12 {
		typ := "t"
		if i%2 == 1 {
			typ = "u"
		}
		sub, err := c.Submit(ctx, typ, nil, jobs.Session("alt"), jobs.MaxRetry(0))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	got := waitTerminal(t, c, ids, 30*time.Second)
	var want []string
	for i, id := range ids {
		require.Equal(t, jobs.StateSucceeded, got[id].State, "job %d: %+v", i, got[id])
		require.Equal(t, 1, got[id].Attempts, "job %d", i)
		name := "a"
		if i%2 == 1 {
			name = "b"
		}
		want = append(want, name+"/"+id)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	require.Equal(t, want, log.runs, "in session order, each on the worker with its handler")
}

// A job whose type no live worker handles waits in state
// waiting_for_handler, charged nothing; a session's head that waits so
// holds the jobs behind it, though a live worker handles their type; once
// a worker that handles it starts, everything runs, in order. A worker
// that stops leaves the jobs of its types waiting, not failing.
func TestJobWaitsForHandler(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var log runLog
	regB := prometheus.NewRegistry()
	startWorker(t, rdb, worker.Config{ID: "b", Concurrency: 2, Registerer: regB, HandlerWait: 100 * time.Millisecond},
		map[string]worker.HandlerFunc{"u": log.handler("b")})

	submit := func(typ string, opts ...jobs.Option) string {
		sub, err := c.Submit(ctx, typ, nil, append(opts, jobs.MaxRetry(0))...)
		require.NoError(t, err)
		return sub.ID
	}
	head := submit("t", jobs.Session("s"))
	behind := []string{submit("u", jobs.Session("s")), submit("u", jobs.Session("s"))}
	plain := submit("t")
	// Worker b has seen both and handed them back a few times.
	eventually(t, 10*time.Second, func() bool { return declined(regB, "t", "no_live_handler") >= 4 },
		"worker b declines the jobs of t")
	for _, id := range []string{head, plain} {
		in, err := c.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, jobs.StateWaitingForHandler, in.State, "job %s", id)
		require.Zero(t, in.Attempts, "job %s: %+v", id, in)
	}
	for _, id := range behind {
		in, err := c.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, jobs.StateParked, in.State, "job %s waits behind the head", id)
	}
	require.Zero(t, log.count(), "nothing ran")

	// A worker for t joins: everything runs, in the session's order.
	a, err := worker.New(rdb, testConfig(worker.Config{ID: "a", Concurrency: 2}))
	require.NoError(t, err)
	require.NoError(t, a.Handle("t", log.handler("a")))
	require.NoError(t, a.Start(ctx))
	all := append([]string{head, plain}, behind...)
	got := waitTerminal(t, c, all, 15*time.Second)
	for _, id := range all {
		require.Equal(t, jobs.StateSucceeded, got[id].State, "job %s: %+v", id, got[id])
		require.Equal(t, 1, got[id].Attempts, "job %s", id)
	}
	log.mu.Lock()
	var order []string
	for _, r := range log.runs {
		for _, id := range append([]string{head}, behind...) {
			if r[2:] == id {
				order = append(order, id)
			}
		}
	}
	log.mu.Unlock()
	require.Equal(t, append([]string{head}, behind...), order, "the session's order")
	require.Equal(t, "a", log.worker(head))
	require.Equal(t, "a", log.worker(plain))

	// Worker a leaves (a rolling upgrade that drops t): new jobs of t
	// wait again, and nothing fails.
	a.Stop()
	again := submit("t", jobs.Session("s"))
	eventually(t, 10*time.Second, func() bool {
		in, err := c.Get(ctx, again)
		return err == nil && in.State == jobs.StateWaitingForHandler && declined(regB, "t", "no_live_handler") >= 6
	}, "the job of t waits for a handler again")
	dl, err := c.DeadLetters(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, dl)
}
