package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// The hot paths of sessionq, one Redis operation sequence each, on a real
// redis-server (internal/redistest). Each reports its Redis round trips per
// operation (rt/op), counted by a Counter on the client.

// benchClient is a fresh database with a round-trip counter on it.
func benchClient(b *testing.B) (*redis.Client, *Counter) {
	b.Helper()
	c, _ := redistest.Client(b)
	cnt := NewCounter()
	c.AddHook(cnt)
	return c, cnt
}

// meter counts what a benchmark's loop costs Redis: round trips on the
// client, and the server's CPU time (INFO cpu: server-wide, so run the
// benchmarks alone, -run '^$').
type meter struct {
	c        *redis.Client
	cnt      *Counter
	rt       RoundTrips
	serverUs float64
}

func start(b *testing.B, c *redis.Client, cnt *Counter) *meter {
	b.Helper()
	return &meter{c: c, cnt: cnt, rt: cnt.Snapshot(), serverUs: serverCPU(b, c)}
}

func (m *meter) report(b *testing.B) {
	b.Helper()
	b.StopTimer()
	us := serverCPU(b, m.c) - m.serverUs
	b.ReportMetric(float64(m.cnt.Snapshot().Sub(m.rt).Total())/float64(b.N), "rt/op")
	b.ReportMetric(us/float64(b.N), "redis-cpu-us/op")
}

// serverCPU is the Redis server's CPU time so far, in µs.
func serverCPU(b *testing.B, c *redis.Client) float64 {
	b.Helper()
	s, err := c.Info(context.WithoutCancel(b.Context()), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	return float64(parseCPU(s).Microseconds())
}

// record is what jobs.Client stores for a session job (see submitSession).
func record(string, string) ledger.Job {
	return ledger.Job{Type: benchType, Payload: []byte("0"), Queue: benchQueue, MaxRetry: 3, Timeout: 30 * time.Minute, Policy: "block"}
}

const lease = 10 * time.Second

func finishOpts(inline bool) ledger.FinishOptions {
	return ledger.FinishOptions{Worker: "w", Lease: lease, Retention: time.Hour, Inline: inline, Queues: "," + benchQueue + ","}
}

// BenchmarkSubmit submits session jobs through jobs.Client: a job that heads
// an idle session (index SET, submit script, asynq enqueue), one queued
// behind a busy session (parked: no enqueue), and a plain job.
func BenchmarkSubmit(b *testing.B) {
	b.Run("idle-session", func(b *testing.B) {
		c, cnt := benchClient(b)
		jc, err := jobs.NewClient(c, jobs.ClientConfig{})
		require.NoError(b, err)
		ctx := b.Context()
		m := start(b, c, cnt)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := jc.Submit(ctx, benchType, payload(i), jobs.Session("s"+strconv.Itoa(i))); err != nil {
				b.Fatal(err)
			}
		}
		m.report(b)
	})
	b.Run("plain", func(b *testing.B) {
		c, cnt := benchClient(b)
		jc, err := jobs.NewClient(c, jobs.ClientConfig{})
		require.NoError(b, err)
		ctx := b.Context()
		m := start(b, c, cnt)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := jc.Submit(ctx, benchType, payload(i)); err != nil {
				b.Fatal(err)
			}
		}
		m.report(b)
	})
	b.Run("raw-asynq", func(b *testing.B) {
		c, cnt := benchClient(b)
		ac := asynq.NewClientFromRedisClient(c)
		ctx := b.Context()
		m := start(b, c, cnt)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := ac.EnqueueContext(ctx, asynq.NewTask(benchType, payload(i))); err != nil {
				b.Fatal(err)
			}
		}
		m.report(b)
	})
}

// BenchmarkPark submits jobs to a session whose head is pending: each is
// parked in the ledger (index SET + submit script).
func BenchmarkPark(b *testing.B) {
	c, cnt := benchClient(b)
	jc, err := jobs.NewClient(c, jobs.ClientConfig{})
	require.NoError(b, err)
	ctx := b.Context()
	_, err = jc.Submit(ctx, benchType, payload(0), jobs.Session("busy"))
	require.NoError(b, err)
	m := start(b, c, cnt)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s, err := jc.Submit(ctx, benchType, payload(i), jobs.Session("busy"))
		if err != nil || s.State != jobs.StateParked {
			b.Fatalf("submit: %v, state %q", err, s.State)
		}
	}
	m.report(b)
}

// BenchmarkAcquireFinish takes the lease of a dispatched job that heads its
// session and finishes it with nothing behind it: the ledger's cost of a
// lone session job on the worker (asynq's dequeue and done not included).
func BenchmarkAcquireFinish(b *testing.B) {
	c, cnt := benchClient(b)
	led := ledger.New(c)
	ctx := b.Context()
	n := b.N
	loneJobs(ctx, b, led, n)
	m := start(b, c, cnt)
	b.ResetTimer()
	for i := range n {
		s, id := "s"+strconv.Itoa(i), "j"+strconv.Itoa(i)
		ar, err := led.Acquire(ctx, s, id, 1, "w", lease)
		if err != nil || ar.Verdict != ledger.OK {
			b.Fatalf("acquire: %v %q", err, ar.Verdict)
		}
		fr, err := led.Finish(ctx, s, id, ar.Job.Token, ledger.Outcome{OK: true}, finishOpts(true))
		if err != nil || fr.Next != ledger.None {
			b.Fatalf("finish: %v %+v", err, fr)
		}
	}
	m.report(b)
}

// BenchmarkAcquireFinishSlots is BenchmarkAcquireFinish from 10 goroutines
// at once, as a worker's 10 slots call the ledger: each call in a round
// trip of its own (unbatched), or the calls made at about the same time in
// one pipeline (batched: Ledger.Batched with 1, 2 or 4 pipelines in
// flight). calls/rt is the calls a round trip carried.
func BenchmarkAcquireFinishSlots(b *testing.B) {
	const slots = 10
	for _, tc := range []struct {
		name     string
		inFlight int // 0: unbatched
	}{{"unbatched", 0}, {"batched-1", 1}, {"batched-2", 2}, {"batched-4", 4}} {
		b.Run(tc.name, func(b *testing.B) {
			c, cnt := benchClient(b)
			led := ledger.New(c)
			if tc.inFlight > 0 {
				led = led.Batched(ledger.BatchConfig{MaxInFlight: tc.inFlight})
			}
			ctx := b.Context()
			n := b.N
			loneJobs(ctx, b, ledger.New(c), n)
			var next atomic.Int64
			m := start(b, c, cnt)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range slots {
				wg.Go(func() {
					for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
						s, id := "s"+strconv.Itoa(i), "j"+strconv.Itoa(i)
						ar, err := led.Acquire(ctx, s, id, 1, "w", lease)
						if err != nil || ar.Verdict != ledger.OK {
							b.Errorf("acquire: %v %q", err, ar.Verdict)
							return
						}
						fr, err := led.Finish(ctx, s, id, ar.Job.Token, ledger.Outcome{OK: true}, finishOpts(true))
						if err != nil || fr.Next != ledger.None {
							b.Errorf("finish: %v %+v", err, fr)
							return
						}
					}
				})
			}
			wg.Wait()
			m.report(b)
			if p, calls := led.BatchStats(); p > 0 {
				b.ReportMetric(float64(calls)/float64(p), "calls/rt")
			}
		})
	}
}

// BenchmarkAcquire takes the lease of a dispatched job that heads its
// session (the part of BenchmarkAcquireFinish before the job runs).
func BenchmarkAcquire(b *testing.B) {
	c, cnt := benchClient(b)
	led := ledger.New(c)
	ctx := b.Context()
	n := b.N
	loneJobs(ctx, b, led, n)
	m := start(b, c, cnt)
	b.ResetTimer()
	for i := range n {
		s, id := "s"+strconv.Itoa(i), "j"+strconv.Itoa(i)
		ar, err := led.Acquire(ctx, s, id, 1, "w", lease)
		if err != nil || ar.Verdict != ledger.OK {
			b.Fatalf("acquire: %v %q", err, ar.Verdict)
		}
	}
	m.report(b)
}

// loneJobs submits n jobs, job ji alone in session si, each dispatched.
func loneJobs(ctx context.Context, b *testing.B, led *ledger.Ledger, n int) {
	b.Helper()
	for i := range n {
		s, id := "s"+strconv.Itoa(i), "j"+strconv.Itoa(i)
		if _, err := led.Submit(ctx, s, id, record(id, s), ledger.SubmitOptions{IndexTTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
}

// oneSession submits n jobs to session s through the ledger and acquires the
// first.
func oneSession(ctx context.Context, b *testing.B, led *ledger.Ledger, s string, n int) *ledger.RunJob {
	b.Helper()
	for i := range n {
		id := "j" + strconv.Itoa(i)
		if _, err := led.Submit(ctx, s, id, record(id, s), ledger.SubmitOptions{IndexTTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	ar, err := led.Acquire(ctx, s, "j0", 1, "w", lease)
	if err != nil || ar.Verdict != ledger.OK {
		b.Fatalf("acquire: %v %q", err, ar.Verdict)
	}
	return ar.Job
}

// BenchmarkResume moves a session from one job to its parked successor:
// inline (the finish script hands the lease to the next job on the same
// worker: one round trip), or through the queue (finish, asynq enqueue of
// the next job, and its acquire when a worker dequeues it; asynq's own
// dequeue and done not included).
func BenchmarkResume(b *testing.B) {
	b.Run("inline", func(b *testing.B) {
		c, cnt := benchClient(b)
		led := ledger.New(c)
		ctx := b.Context()
		rj := oneSession(ctx, b, led, "hot", b.N+1)
		m := start(b, c, cnt)
		b.ResetTimer()
		for range b.N {
			fr, err := led.Finish(ctx, "hot", rj.ID, rj.Token, ledger.Outcome{OK: true}, finishOpts(true))
			if err != nil || fr.Next != ledger.Run {
				b.Fatalf("finish: %v %+v", err, fr)
			}
			rj = fr.Run
		}
		m.report(b)
	})
	b.Run("enqueue", func(b *testing.B) {
		c, cnt := benchClient(b)
		led := ledger.New(c)
		aq := asynq.NewClientFromRedisClient(c)
		ctx := b.Context()
		rj := oneSession(ctx, b, led, "hot", b.N+1)
		m := start(b, c, cnt)
		b.ResetTimer()
		for range b.N {
			fr, err := led.Finish(ctx, "hot", rj.ID, rj.Token, ledger.Outcome{OK: true}, finishOpts(false))
			if err != nil || fr.Next != ledger.Enqueue {
				b.Fatalf("finish: %v %+v", err, fr)
			}
			if err := dispatch.Enqueue(ctx, aq, fr.Task); err != nil {
				b.Fatal(err)
			}
			ar, err := led.Acquire(ctx, "hot", fr.Task.ID, fr.Task.Gen, "w", lease)
			if err != nil || ar.Verdict != ledger.OK {
				b.Fatalf("acquire: %v %q", err, ar.Verdict)
			}
			rj = ar.Job
		}
		m.report(b)
	})
}

// BenchmarkRenew extends a held lease: the only Redis traffic of a long job.
func BenchmarkRenew(b *testing.B) {
	c, cnt := benchClient(b)
	led := ledger.New(c)
	ctx := b.Context()
	rj := oneSession(ctx, b, led, "long", 1)
	m := start(b, c, cnt)
	b.ResetTimer()
	for b.Loop() {
		r, err := led.Renew(ctx, "long", rj.ID, rj.Token, lease)
		if err != nil || r != ledger.LeaseRenewed {
			b.Fatalf("renew: %v %v", err, r)
		}
	}
	m.report(b)
}
