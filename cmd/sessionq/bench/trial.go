package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// system is one of the things a scenario measures.
type system int

const (
	sysSessionq system = iota // sessionq: jobs.Client + worker.Worker
	sysAsynq                  // raw asynq: asynq.Client + asynq.Server, no ordering
	sysNaive                  // asynq + a per-session SET NX PX lock, retried on contention
	// sysNaiveDefault is sysNaive's handler with asynq's default retry delay
	// and forwarder interval: run once per scenario, stopped at a cap.
	sysNaiveDefault
)

func (s system) String() string {
	switch s {
	case sysSessionq:
		return "sessionq"
	case sysAsynq:
		return "asynq"
	case sysNaive:
		return "naive"
	default:
		return "naive-default"
	}
}

const (
	benchQueue = jobs.DefaultQueue
	benchType  = "bench.noop"
	// pollInterval is the asynq TaskCheckInterval of every system: the
	// worker's default PollInterval, given to the baselines too.
	pollInterval = 10 * time.Millisecond
	// naiveForward is the naive baseline's DelayedTaskCheckInterval: how
	// often asynq moves tasks whose retry is due back to the queue.
	naiveForward = 10 * time.Millisecond
	// naiveLockTTL is the PX of the naive baseline's lock.
	naiveLockTTL = 30 * time.Second
	// submitters is the number of goroutines that fill a queue.
	submitters = 4
)

// naiveRetryDelay is the naive baseline's RetryDelayFunc: 10 to 50 ms.
func naiveRetryDelay(int, error, *asynq.Task) time.Duration {
	return 10*time.Millisecond + rand.N(40*time.Millisecond)
}

var errContended = errors.New("bench: session lock held by another job")

// trialSpec is one measurement of one system on one workload.
type trialSpec struct {
	sys         system
	w           *workload
	instances   int // worker processes (asynq servers)
	concurrency int // slots of each
	timeout     time.Duration
	work        time.Duration // how long each handler sleeps; 0: a no-op
	// capped makes timeout a cap: a trial cut by it reports the jobs that
	// ended within the cap over the cap, not a rate until the last end.
	capped bool
}

func (s trialSpec) fleet() string {
	return fmt.Sprintf("%d x %d slots", s.instances, s.concurrency)
}

// trialResult is what one trial measured.
type trialResult struct {
	spec      trialSpec
	a         analysis
	elapsed   time.Duration // start of the drain to the last end (or the timeout)
	timedOut  bool
	fill      RoundTrips // while the queue was filled (submit path)
	drain     RoundTrips // while it drained (run path)
	redisCPU  time.Duration
	goCPU     time.Duration
	contended int64 // naive: attempts that found the lock taken
}

// orderingLimit is the most jobs/s any system that keeps each session's
// jobs in order and apart could reach on this trial's fleet with these job
// times: the jobs over the larger of the total work spread over every slot
// and the longest chain of one session's jobs, which must run one after
// another. 0 when the jobs took no measurable time.
func (t *trialResult) orderingLimit() float64 {
	slots := time.Duration(t.spec.instances * t.spec.concurrency)
	bound := max(t.a.work/max(slots, 1), t.a.chain)
	if bound <= 0 {
		return 0
	}
	return float64(t.a.finished) / bound.Seconds()
}

func (t *trialResult) jobsPerSec() float64 {
	if t.elapsed <= 0 {
		return 0
	}
	return float64(t.a.finished) / t.elapsed.Seconds()
}

// fleet is the running workers of a trial.
type fleet struct {
	stops  []func() // workers, stopped together
	closes []func() // their Redis clients, closed after
}

func (f *fleet) stop() {
	var wg sync.WaitGroup
	for _, s := range f.stops {
		wg.Add(1)
		go func() { defer wg.Done(); s() }()
	}
	wg.Wait()
	for _, c := range f.closes {
		c()
	}
	f.stops, f.closes = nil, nil
}

// startFleet starts spec.instances workers of spec.sys whose handlers note
// their jobs in rec.
func (r *runner) startFleet(ctx context.Context, spec trialSpec, rec *recorder, contended *atomic.Int64) (*fleet, error) {
	f := &fleet{}
	for k := range spec.instances {
		c := r.client()
		var err error
		switch spec.sys {
		case sysSessionq:
			err = r.startSessionq(ctx, f, c, k, spec, rec)
		default:
			err = r.startAsynq(f, c, spec, rec, contended)
		}
		if err != nil {
			_ = c.Close()
			f.stop()
			return nil, err
		}
		f.closes = append(f.closes, func() { _ = c.Close() })
	}
	return f, nil
}

func (r *runner) startSessionq(ctx context.Context, f *fleet, c *redis.Client, k int, spec trialSpec, rec *recorder) error {
	// Configured as `sessionq worker` is: with the session table attached
	// (the bench's session IDs name no session, as a plain ordering key
	// does in most uses).
	tbl, err := sessiontable.New(c, sessiontable.Config{Logger: r.logger()})
	if err != nil {
		return err
	}
	w, err := worker.New(c, worker.Config{
		ID:            "bench-" + strconv.Itoa(k),
		Concurrency:   spec.concurrency,
		Queues:        []string{benchQueue},
		Logger:        r.logger(),
		InlineBudget:  r.cfg.InlineBudget,
		NoBatching:    r.cfg.NoBatching,
		BatchInFlight: r.cfg.BatchInFlight,
		Attacher:      worker.SessionTable(tbl),
	})
	if err != nil {
		return err
	}
	err = w.HandleFunc(benchType, func(_ context.Context, job *worker.Job) error {
		i, ok := rec.job(job.Payload)
		if !ok {
			return fmt.Errorf("bench: bad payload %q: %w", job.Payload, worker.ErrSkipRetry)
		}
		rec.begin(i)
		sleep(spec.work)
		rec.done(i)
		return nil
	})
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return err
	}
	f.stops = append(f.stops, w.Stop)
	return nil
}

func (r *runner) startAsynq(f *fleet, c *redis.Client, spec trialSpec, rec *recorder, contended *atomic.Int64) error {
	cfg := asynq.Config{
		Concurrency:       spec.concurrency,
		Queues:            map[string]int{benchQueue: 1},
		TaskCheckInterval: pollInterval,
		Logger:            asynqLogger{r.logger()},
		LogLevel:          asynq.ErrorLevel,
	}
	h := func(_ context.Context, t *asynq.Task) error {
		i, ok := rec.job(t.Payload())
		if !ok {
			return fmt.Errorf("bench: bad payload %q: %w", t.Payload(), asynq.SkipRetry)
		}
		rec.begin(i)
		sleep(spec.work)
		rec.done(i)
		return nil
	}
	if spec.sys == sysNaive || spec.sys == sysNaiveDefault {
		if spec.sys == sysNaive {
			cfg.RetryDelayFunc = naiveRetryDelay
			cfg.DelayedTaskCheckInterval = naiveForward
		} else {
			// What a user of asynq gets out of the box: n^4+15 s plus
			// jitter, and DelayedTaskCheckInterval left at its default (5s).
			cfg.RetryDelayFunc = asynq.DefaultRetryDelayFunc
		}
		// Contention is not a failure: it does not use up the task's retries.
		cfg.IsFailure = func(err error) bool { return !errors.Is(err, errContended) }
		h = func(ctx context.Context, t *asynq.Task) error {
			i, ok := rec.job(t.Payload())
			if !ok {
				return fmt.Errorf("bench: bad payload %q: %w", t.Payload(), asynq.SkipRetry)
			}
			lock := "naive:{" + rec.w.sess[i] + "}:lock"
			got, err := c.SetNX(ctx, lock, i, naiveLockTTL).Result()
			if err != nil {
				return fmt.Errorf("taking naive lock: %w", err)
			}
			if !got {
				contended.Add(1)
				return errContended
			}
			rec.begin(i)
			sleep(spec.work)
			rec.done(i)
			return c.Del(ctx, lock).Err()
		}
	}
	srv := asynq.NewServerFromRedisClient(c, cfg)
	if err := srv.Start(asynq.HandlerFunc(h)); err != nil {
		return fmt.Errorf("starting asynq server: %w", err)
	}
	f.stops = append(f.stops, srv.Shutdown)
	return nil
}

func sleep(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// submitter submits job i of a trial's workload.
type submitter func(ctx context.Context, i int) error

func (r *runner) submitter(c *redis.Client, sys system, w *workload) (submitter, error) {
	if sys == sysSessionq {
		jc, err := jobs.NewClient(c, jobs.ClientConfig{})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, i int) error {
			var opts []jobs.Option
			if s := w.sess[i]; s != "" {
				opts = append(opts, jobs.Session(s))
			}
			_, err := jc.Submit(ctx, benchType, payload(i), opts...)
			return err
		}, nil
	}
	ac := asynq.NewClientFromRedisClient(c)
	return func(ctx context.Context, i int) error {
		_, err := ac.EnqueueContext(ctx, asynq.NewTask(benchType, payload(i)), asynq.Queue(benchQueue))
		return err
	}, nil
}

// fill submits every job of w with a few goroutines. Jobs of one session
// are submitted by one goroutine, in order, so that submission order is the
// workload's order within each session.
func fill(ctx context.Context, w *workload, submit submitter, rec *recorder) error {
	var wg sync.WaitGroup
	errs := make([]error, submitters)
	for g := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range w.n() {
				if part(w.sess[i], i) != g {
					continue
				}
				rec.submitted(i)
				if err := submit(ctx, i); err != nil {
					errs[g] = fmt.Errorf("submitting job %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func part(session string, i int) int {
	if session == "" {
		return i % submitters
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(session))
	return int(h.Sum32() % submitters)
}

// drain measures spec on a queue filled beforehand: the queue is paused,
// filled, the workers started, and the clock runs from the moment the queue
// is unpaused to the end of the last job.
func (r *runner) drain(ctx context.Context, spec trialSpec) (*trialResult, error) {
	if err := r.reset(ctx); err != nil {
		return nil, err
	}
	res := &trialResult{spec: spec}
	rec := newRecorder(spec.w, &r.progress)
	insp := asynq.NewInspectorFromRedisClient(r.admin)
	if err := insp.PauseQueue(benchQueue); err != nil {
		return nil, fmt.Errorf("pausing queue: %w", err)
	}
	c := r.client()
	defer c.Close()
	submit, err := r.submitter(c, spec.sys, spec.w)
	if err != nil {
		return nil, err
	}
	rt0 := r.counter.Snapshot()
	if err := fill(ctx, spec.w, submit, rec); err != nil {
		return nil, err
	}
	rt1 := r.counter.Snapshot()
	res.fill = rt1.Sub(rt0)

	var contended atomic.Int64
	fl, err := r.startFleet(ctx, spec, rec, &contended)
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	// Let every server finish starting (heartbeat, first poll).
	time.Sleep(100 * time.Millisecond)

	rt2, cpu0, go0 := r.counter.Snapshot(), r.redisCPU(ctx), processCPU()
	t0 := rec.now()
	if err := insp.UnpauseQueue(benchQueue); err != nil {
		return nil, fmt.Errorf("unpausing queue: %w", err)
	}
	// As jobs.Client.ResumeQueue does: workers see the resume at once.
	_ = r.admin.Publish(ctx, keys.QueueEvents, benchQueue).Err()
	timer := time.NewTimer(spec.timeout)
	defer timer.Stop()
	select {
	case <-rec.allDone:
	case <-timer.C:
		res.timedOut = true
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t1 := rec.now()
	res.drain = r.counter.Snapshot().Sub(rt2)
	res.redisCPU, res.goCPU = r.redisCPU(ctx)-cpu0, processCPU()-go0
	res.a = rec.analyze()
	switch {
	case res.timedOut && spec.capped:
		// Jobs done within the cap, over the cap: what ended after the
		// timer fired (before the fleet stops) does not count.
		r.progress.Add(int64(spec.w.n() - res.a.finished))
		res.a.finished = rec.finishedBy(t0 + int64(spec.timeout))
		res.elapsed = spec.timeout
	case res.timedOut:
		res.elapsed = time.Duration(t1 - t0)
		r.progress.Add(int64(spec.w.n() - res.a.finished))
	default:
		res.elapsed = time.Duration(res.a.lastEnd - t0)
	}
	res.contended = contended.Load()
	return res, nil
}

// latency measures spec on an idle system: submit one job, wait for it to
// start and end and for its session to be idle again, wait a random 1 to
// 4 ms, and go on with the next.
func (r *runner) latency(ctx context.Context, spec trialSpec) (*trialResult, error) {
	if err := r.reset(ctx); err != nil {
		return nil, err
	}
	res := &trialResult{spec: spec}
	rec := newRecorder(spec.w, &r.progress)
	rec.started = make(chan int, 1)
	c := r.client()
	defer c.Close()
	submit, err := r.submitter(c, spec.sys, spec.w)
	if err != nil {
		return nil, err
	}
	fl, err := r.startFleet(ctx, spec, rec, new(atomic.Int64))
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	time.Sleep(200 * time.Millisecond)

	rt0, cpu0, go0 := r.counter.Snapshot(), r.redisCPU(ctx), processCPU()
	t0 := rec.now()
	deadline := time.Now().Add(spec.timeout)
	for i := range spec.w.n() {
		rec.submitted(i)
		if err := submit(ctx, i); err != nil {
			return nil, fmt.Errorf("submitting job %d: %w", i, err)
		}
		select {
		case <-rec.started:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("%s: job %d did not start within 10s", spec.sys, i)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		for end := time.Now().Add(10 * time.Second); rec.end[i].Load() == 0; {
			if time.Now().After(end) {
				return nil, fmt.Errorf("%s: job %d did not end within 10s", spec.sys, i)
			}
			time.Sleep(50 * time.Microsecond)
		}
		if s := spec.w.sess[i]; s != "" && spec.sys == sysSessionq {
			if err := r.waitIdle(ctx, s); err != nil {
				return nil, err
			}
		}
		time.Sleep(time.Millisecond + rand.N(3*time.Millisecond))
		if time.Now().After(deadline) {
			res.timedOut = true
			r.progress.Add(int64(spec.w.n() - i - 1))
			break
		}
	}
	res.elapsed = time.Duration(rec.now() - t0)
	res.drain = r.counter.Snapshot().Sub(rt0)
	res.redisCPU, res.goCPU = r.redisCPU(ctx)-cpu0, processCPU()-go0
	res.a = rec.analyze()
	return res, nil
}

// waitIdle waits until session s holds no lease: its last job's outcome is
// recorded, so the next job finds the session idle.
func (r *runner) waitIdle(ctx context.Context, s string) error {
	for range 10000 {
		n, err := ledger.New(r.admin).Leased(ctx, s)
		if err != nil {
			return err
		}
		if !n {
			return nil
		}
		time.Sleep(100 * time.Microsecond)
	}
	return fmt.Errorf("session %s still leased after 1s", s)
}

// redisCPU is the CPU time the Redis server used so far (INFO cpu).
func (r *runner) redisCPU(ctx context.Context) time.Duration {
	s, err := r.admin.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	return parseCPU(s)
}

// parseCPU reads the server's CPU time (user + system) from INFO cpu.
func parseCPU(info string) time.Duration {
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// asynqLogger sends asynq's logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
