package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/audit"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// Invariants 1 and 2 (exclusion, order) and parallelism: concurrent
// submitters over interleaved sessions, three workers.
func TestSessionsRunSeriallyInOrderAcrossWorkers(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	c := newClient(t, rdb)
	var rec audit.Recorder
	handler := func(ctx context.Context, j *worker.Job) error {
		rec.Start(j.SessionID, j.Seq)
		defer rec.End(j.SessionID)
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		return nil
	}
	for i := 0; i < 3; i++ {
		startWorker(t, rdb, worker.Config{Concurrency: 4, InlineBudget: 3}, map[string]worker.HandlerFunc{"doc": handler})
	}
	const sessions, submitters, perSubmitter = 12, 6, 30
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for g := 0; g < submitters; g++ {
		wg.Go(func() {
			for i := 0; i < perSubmitter; i++ {
				opts := []jobs.Option{}
				if i%5 != 4 { // every fifth job has no session
					opts = append(opts, jobs.Session(fmt.Sprintf("s-%d", (g+i)%sessions)))
				}
				sub, err := c.Submit(context.Background(), "doc", []byte(strconv.Itoa(i)), opts...)
				require.NoError(t, err)
				mu.Lock()
				ids = append(ids, sub.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	infos := waitTerminal(t, c, ids, 60*time.Second)
	for id, in := range infos {
		require.Equal(t, jobs.StateSucceeded, in.State, "job %s", id)
	}
	rep := rec.Report()
	require.True(t, rep.OK(), rep.String())
	require.Equal(t, submitters*perSubmitter, rep.Starts)
	require.GreaterOrEqual(t, rep.MaxParallel, 2, "unrelated jobs never ran in parallel")
	for _, s := range rep.Sessions {
		require.Greater(t, s.Starts, 1, "session %s", s.Session)
	}
}

// Invariant 3: a backlog in one session parks in Redis; it never holds a
// slot, so other sessions go on while one of its jobs is stuck.
func TestBacklogParksAndLeavesSlotsFree(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	c := newClient(t, rdb)
	release := make(chan struct{})
	var hotStarted, others atomic.Int32
	startWorker(t, rdb, worker.Config{Concurrency: 2}, map[string]worker.HandlerFunc{
		"hot": func(ctx context.Context, j *worker.Job) error {
			hotStarted.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
		"other": func(ctx context.Context, j *worker.Job) error { others.Add(1); return nil },
	})
	var hot []string
	for i := 0; i < 20; i++ {
		sub, err := c.Submit(context.Background(), "hot", nil, jobs.Session("hot-session"))
		require.NoError(t, err)
		hot = append(hot, sub.ID)
		if i > 0 {
			require.Equal(t, jobs.StateParked, sub.State)
		}
	}
	var other []string
	for i := 0; i < 30; i++ {
		sub, err := c.Submit(context.Background(), "other", nil, jobs.Session(fmt.Sprintf("cold-%d", i)))
		require.NoError(t, err)
		other = append(other, sub.ID)
	}
	// With the first hot job stuck in one of two slots, every other job
	// still runs: the 19 parked ones take no slot.
	waitTerminal(t, c, other, 20*time.Second)
	require.EqualValues(t, 1, hotStarted.Load())
	// The parked jobs are not in asynq at all, only in the ledger.
	insp := asynq.NewInspectorFromRedisClient(rdb)
	qi, err := insp.GetQueueInfo("default")
	require.NoError(t, err)
	require.Zero(t, qi.Pending+qi.Scheduled+qi.Retry, "parked jobs must not be asynq tasks")
	require.EqualValues(t, 20, rdb.LLen(context.Background(), keys.Pending("hot-session")).Val())
	close(release)
	waitTerminal(t, c, hot, 20*time.Second)
	require.EqualValues(t, 20, hotStarted.Load())
}

// Invariant 5: an ID that names no session is serialized all the same, and
// the handler is told the session is inactive.
func TestUnknownSessionIsSerializedAndInactive(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	c := newClient(t, rdb)
	var rec audit.Recorder
	var active atomic.Int32
	startWorker(t, rdb, worker.Config{Concurrency: 8, InlineBudget: -1}, map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error {
			rec.Start(j.SessionID, j.Seq)
			defer rec.End(j.SessionID)
			if j.Active || worker.JobFromContext(ctx).Active {
				active.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
			return nil
		},
	})
	var ids []string
	for i := 0; i < 25; i++ {
		sub, err := c.Submit(context.Background(), "doc", nil, jobs.Session("no-such-session"))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	waitTerminal(t, c, ids, 30*time.Second)
	rep := rec.Report()
	require.True(t, rep.OK(), rep.String())
	require.Equal(t, 25, rep.Starts)
	require.Zero(t, active.Load())
}

// Invariant 2, failure policies: a poison job under "block" is retried at
// the head of its session, then dead-lettered, and only then does the
// session go on; under "skip" it is dead-lettered at once.
func TestPoisonJobBlockAndSkip(t *testing.T) {
	t.Parallel()
	for _, policy := range []jobs.Policy{jobs.PolicyBlock, jobs.PolicySkip} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			rdb, _ := redistest.Client(t)
			c := newClient(t, rdb)
			var mu sync.Mutex
			var order []string
			startWorker(t, rdb, worker.Config{Concurrency: 4}, map[string]worker.HandlerFunc{
				"poison": func(ctx context.Context, j *worker.Job) error {
					mu.Lock()
					order = append(order, "poison")
					mu.Unlock()
					return errors.New("always fails")
				},
				"ok": func(ctx context.Context, j *worker.Job) error {
					mu.Lock()
					order = append(order, "ok"+strconv.FormatInt(j.Seq, 10))
					mu.Unlock()
					return nil
				},
			})
			p, err := c.Submit(context.Background(), "poison", nil, jobs.Session("s"), jobs.MaxRetry(2), jobs.FailurePolicy(policy))
			require.NoError(t, err)
			a, err := c.Submit(context.Background(), "ok", nil, jobs.Session("s"))
			require.NoError(t, err)
			b, err := c.Submit(context.Background(), "ok", nil, jobs.Session("s"))
			require.NoError(t, err)
			infos := waitTerminal(t, c, []string{p.ID, a.ID, b.ID}, 20*time.Second)
			require.Equal(t, jobs.StateFailed, infos[p.ID].State)
			require.Contains(t, infos[p.ID].LastError, "always fails")
			require.Equal(t, jobs.StateSucceeded, infos[a.ID].State)
			require.Equal(t, jobs.StateSucceeded, infos[b.ID].State)
			want := []string{"poison", "poison", "poison", "ok2", "ok3"}
			if policy == jobs.PolicySkip {
				want = []string{"poison", "ok2", "ok3"}
			}
			mu.Lock()
			require.Equal(t, want, order)
			mu.Unlock()
			require.Equal(t, len(want)-2, infos[p.ID].Attempts)
			dead, err := rdb.ZRange(context.Background(), keys.Dead, 0, -1).Result()
			require.NoError(t, err)
			require.Equal(t, []string{"s/" + p.ID}, dead)
			dl, err := c.DeadLetters(context.Background(), 10)
			require.NoError(t, err)
			require.Len(t, dl, 1)
			require.Equal(t, p.ID, dl[0].ID)
			require.Equal(t, jobs.StateFailed, dl[0].State)
		})
	}
}

// Invariant 1, fencing: a handler whose lease is taken over has its
// context cancelled with ErrLeaseLost, and its outcome, written with the
// stale token, is refused.
func TestLostLeaseCancelsHandlerAndFencesItsWrites(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	c := newClient(t, rdb)
	started := make(chan *worker.Job, 1)
	causes := make(chan error, 1)
	startWorker(t, rdb, worker.Config{Concurrency: 1, Lease: 600 * time.Millisecond}, map[string]worker.HandlerFunc{
		"long": func(ctx context.Context, j *worker.Job) error {
			started <- j
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		},
	})
	sub, err := c.Submit(context.Background(), "long", nil, jobs.Session("fenced"))
	require.NoError(t, err)
	j := <-started
	// Another holder takes the session over (as after a pause past the lease).
	ctx := context.Background()
	newTok, err := rdb.HIncrBy(ctx, keys.Run("fenced"), "fence", 1).Result()
	require.NoError(t, err)
	require.NoError(t, rdb.HSet(ctx, keys.Run("fenced"), "tok", newTok).Err())
	select {
	case cause := <-causes:
		require.ErrorIs(t, cause, worker.ErrLeaseLost)
	case <-time.After(5 * time.Second):
		t.Fatal("handler not cancelled after its lease was taken over")
	}
	// A write with the stale token is refused and changes nothing.
	led := ledger.New(rdb)
	fr, err := led.Finish(ctx, "fenced", sub.ID, j.FencingToken, ledger.Outcome{OK: true},
		ledger.FinishOptions{Worker: "stale", Lease: time.Second, Retention: time.Hour, Queues: ",default,"})
	require.NoError(t, err)
	require.Equal(t, ledger.Stale, fr.Verdict)
	in, err := c.Get(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateRunning, in.State, "the stale holder must not end the job")
	require.Equal(t, j.FencingToken, in.FencingTok)
	require.Greater(t, newTok, j.FencingToken)
}

// Invariant 4: a submitter that died between the ledger write and the asynq
// enqueue, a hand-off interrupted by a crash, and a task deleted by an
// operator are all repaired by the reconciler.
func TestReconcilerRepairsLostDispatches(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	led := ledger.New(rdb)
	var rec audit.Recorder
	ran := make(chan string, 16)
	fields := func(string) ledger.Job {
		return ledger.Job{Type: "doc", Queue: "default", MaxRetry: 3, Timeout: 10 * time.Second, Policy: "block"}
	}
	// 1. Submitter died after the ledger write: no asynq task.
	r1, err := led.Submit(ctx, "s", "died-submitter", fields("died-submitter"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	require.Equal(t, ledger.Dispatch, r1.Verdict)
	_, err = led.Submit(ctx, "s", "second", fields("second"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	// 2. An operator deletes a task: a job on another session whose task is
	// removed from asynq.
	sub, err := c.Submit(ctx, "doc", nil, jobs.Session("t"))
	require.NoError(t, err)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	require.NoError(t, insp.DeleteTask("default", ledger.TaskID(sub.ID, 1)))

	doc := map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error {
			rec.Start(j.SessionID, j.Seq)
			defer rec.End(j.SessionID)
			ran <- j.ID
			return nil
		},
	}
	startWorker(t, rdb, worker.Config{Concurrency: 2, NoMaintenance: true}, doc)
	// Nothing runs without the reconciler.
	select {
	case id := <-ran:
		t.Fatalf("job %s ran with no dispatch", id)
	case <-time.After(300 * time.Millisecond):
	}
	// A second worker, taking part in the maintenance, repairs them: no
	// scheduler process is needed.
	startWorker(t, rdb, worker.Config{Concurrency: 2}, doc)
	got := map[string]bool{}
	for len(got) < 3 {
		select {
		case id := <-ran:
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("only %v ran after the reconciler started", got)
		}
	}
	require.True(t, got["died-submitter"] && got["second"] && got[sub.ID], "%v", got)
	require.True(t, rec.Report().OK(), rec.Report().String())
}

// Invariant 4: a hand-off interrupted by a crash (the finish script passed
// the session on, the enqueue never happened) is repaired.
func TestReconcilerRepairsInterruptedHandoff(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	led := ledger.New(rdb)
	a, err := c.Submit(ctx, "doc", nil, jobs.Session("h"))
	require.NoError(t, err)
	b, err := c.Submit(ctx, "doc", nil, jobs.Session("h"))
	require.NoError(t, err)
	// A worker takes a and finishes it, then "crashes" before enqueueing b.
	acq, err := led.Acquire(ctx, "h", a.ID, 1, "crashing", time.Second)
	require.NoError(t, err)
	require.Equal(t, ledger.OK, acq.Verdict)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	require.NoError(t, insp.DeleteTask("default", ledger.TaskID(a.ID, 1)))
	fr, err := led.Finish(ctx, "h", a.ID, acq.Job.Token, ledger.Outcome{OK: true},
		ledger.FinishOptions{Worker: "crashing", Lease: time.Second, Retention: time.Hour, Queues: ",default,"})
	require.NoError(t, err)
	require.Equal(t, ledger.Enqueue, fr.Next)
	require.Equal(t, b.ID, fr.Task.ID)

	done := make(chan string, 1)
	startWorker(t, rdb, worker.Config{Concurrency: 1}, map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error { done <- j.ID; return nil },
	})
	// The worker's own maintenance repairs it; no scheduler runs.
	select {
	case id := <-done:
		require.Equal(t, b.ID, id)
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupted hand-off was not repaired")
	}
	waitTerminal(t, c, []string{a.ID, b.ID}, 5*time.Second)
}

// Invariant 4: a worker whose job outlives the grace period on shutdown
// hands it back; another worker runs it, with no attempt charged, in order.
func TestShutdownHandsBackRunningJob(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var runs atomic.Int32
	started := make(chan struct{}, 1)
	first, err := worker.New(rdb, testConfig(worker.Config{Concurrency: 1, ShutdownGrace: 200 * time.Millisecond}))
	require.NoError(t, err)
	require.NoError(t, first.HandleFunc("doc", func(ctx context.Context, j *worker.Job) error {
		runs.Add(1)
		started <- struct{}{}
		<-ctx.Done() // never finishes on its own
		return ctx.Err()
	}))
	require.NoError(t, first.Start(ctx))
	a, err := c.Submit(ctx, "doc", nil, jobs.Session("g"))
	require.NoError(t, err)
	b, err := c.Submit(ctx, "after", nil, jobs.Session("g"))
	require.NoError(t, err)
	<-started
	first.Stop()
	in, err := c.Get(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateWaitingForHandler, in.State, "no live worker handles doc now")
	require.Equal(t, 0, in.Attempts, "a hand-back is not an attempt")

	var order []string
	var mu sync.Mutex
	startWorker(t, rdb, worker.Config{Concurrency: 1}, map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error {
			mu.Lock()
			order = append(order, "a")
			mu.Unlock()
			return nil
		},
		"after": func(ctx context.Context, j *worker.Job) error {
			mu.Lock()
			order = append(order, "b")
			mu.Unlock()
			return nil
		},
	})
	infos := waitTerminal(t, c, []string{a.ID, b.ID}, 10*time.Second)
	require.Equal(t, jobs.StateSucceeded, infos[a.ID].State)
	require.Equal(t, 1, infos[a.ID].Attempts)
	mu.Lock()
	require.Equal(t, []string{"a", "b"}, order)
	mu.Unlock()
	require.EqualValues(t, 1, runs.Load())
}

// The same idempotency key gives back the same job and it runs once.
func TestIdempotencyKeyGivesOneJob(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	for _, opts := range [][]jobs.Option{{jobs.Session("idem")}, {}} {
		opts = append(opts, jobs.IdempotencyKey(fmt.Sprintf("order-%d", len(opts))))
		first, err := c.Submit(ctx, "doc", []byte("x"), opts...)
		require.NoError(t, err)
		require.False(t, first.Existing)
		again, err := c.Submit(ctx, "doc", []byte("x"), opts...)
		require.NoError(t, err)
		require.True(t, again.Existing)
		require.Equal(t, first.ID, again.ID)
	}
	var runs atomic.Int32
	startWorker(t, rdb, worker.Config{Concurrency: 2}, map[string]worker.HandlerFunc{
		"doc": func(ctx context.Context, j *worker.Job) error { runs.Add(1); return nil },
	})
	eventually(t, 10*time.Second, func() bool { return runs.Load() == 2 }, "both jobs ran")
	time.Sleep(100 * time.Millisecond) // nothing else may run
	require.EqualValues(t, 2, runs.Load())
}

// Bad input gets a clear error wrapping ErrInvalid and writes nothing.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	cases := []struct {
		name    string
		typ     string
		payload []byte
		opts    []jobs.Option
		want    string
	}{
		{"empty type", "", nil, nil, "job type"},
		{"hash tag in session", "doc", nil, []jobs.Option{jobs.Session("a{b}")}, "session ID"},
		{"long session", "doc", nil, []jobs.Option{jobs.Session(string(make([]byte, 200)))}, "session ID"},
		{"oversized payload", "doc", make([]byte, jobs.DefaultMaxPayload+1), nil, "payload"},
		{"bad queue", "doc", nil, []jobs.Option{jobs.Queue("a b")}, "queue"},
		{"negative retry", "doc", nil, []jobs.Option{jobs.MaxRetry(-1)}, "max retry"},
		{"bad policy", "doc", nil, []jobs.Option{jobs.Session("s"), jobs.FailurePolicy("maybe")}, "failure policy"},
		{"app without session", "doc", nil, []jobs.Option{jobs.Application("a")}, "application ID"},
	}
	for _, tc := range cases {
		_, err := c.Submit(ctx, tc.typ, tc.payload, tc.opts...)
		require.ErrorIs(t, err, jobs.ErrInvalid, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	require.Zero(t, rdb.DBSize(ctx).Val(), "bad input wrote to Redis")
	_, err := c.Get(ctx, "nope")
	require.ErrorIs(t, err, jobs.ErrNotFound)
}

// A panicking handler fails its run with the panic in the error and is
// retried like any failure; a huge error text is cut.
func TestPanicIsRetriedAndErrorsAreCapped(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var runs atomic.Int32
	startWorker(t, rdb, worker.Config{Concurrency: 1}, map[string]worker.HandlerFunc{
		"panics": func(ctx context.Context, j *worker.Job) error {
			if runs.Add(1) == 1 {
				panic("boom")
			}
			return nil
		},
		"verbose": func(ctx context.Context, j *worker.Job) error {
			return errors.New(strings.Repeat("x", 100_000))
		},
	})
	p, err := c.Submit(ctx, "panics", nil, jobs.Session("p"), jobs.MaxRetry(1))
	require.NoError(t, err)
	v, err := c.Submit(ctx, "verbose", nil, jobs.Session("v"), jobs.MaxRetry(0))
	require.NoError(t, err)
	infos := waitTerminal(t, c, []string{p.ID, v.ID}, 10*time.Second)
	require.Equal(t, jobs.StateSucceeded, infos[p.ID].State)
	require.Equal(t, 2, infos[p.ID].Attempts)
	require.Equal(t, jobs.StateFailed, infos[v.ID].State)
	require.Less(t, len(infos[v.ID].LastError), 5000)
	require.True(t, strings.HasSuffix(infos[v.ID].LastError, "(cut)"))
}
