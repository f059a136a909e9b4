package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// FleetConfig configures RunFleet: worker processes (real binaries, each
// running FleetWorker) on one Redis, sessionq and raw asynq side by side.
type FleetConfig struct {
	// RedisURL is the Redis to run on; its database must be empty (the
	// bench empties it before every trial). Required.
	RedisURL string
	// Command is the command line that starts one worker process; the
	// bench appends FleetWorker's flags (see FleetWorkerArgs). Required.
	Command []string
	// Sizes are the numbers of worker processes. Default 1, 2, 4, 8.
	Sizes []int
	// Concurrency is the slots of each worker process. Default 10.
	Concurrency int
	// Jobs is the number of jobs of each trial. Default 10000.
	Jobs int
	// Scenarios are among spread and zipf. Default both.
	Scenarios []string
	// Timeout caps each trial. Default 60s.
	Timeout time.Duration
}

// FleetScenarios are the scenarios RunFleet knows.
var FleetScenarios = []string{"spread", "zipf"}

// FleetResult is one trial of RunFleet.
type FleetResult struct {
	Scenario string `json:"scenario"`
	System   string `json:"system"`
	Workers  int    `json:"workers"`
	Jobs     int    `json:"jobs"`
	Finished int    `json:"finished"`
	// Elapsed runs from unpausing the filled queue to the last job's end.
	Elapsed    time.Duration `json:"elapsed_ns"`
	JobsPerSec float64       `json:"jobs_per_sec"`
	// RedisCPUPerJob is the Redis server's CPU time (INFO cpu) over the
	// drain, per job; RedisBusy that CPU time over Elapsed (1 = one core).
	RedisCPUPerJob time.Duration `json:"redis_cpu_per_job_ns"`
	RedisBusy      float64       `json:"redis_busy"`
	// GoCPUPerJob is the worker processes' CPU time per job.
	GoCPUPerJob time.Duration `json:"go_cpu_per_job_ns"`
	// Ceiling is the jobs/s one Redis core would carry at this CPU per job:
	// the Redis-bound ceiling.
	Ceiling         float64 `json:"redis_ceiling_jobs_per_sec"`
	OrderViolations int     `json:"order_violations"`
	Overlaps        int     `json:"overlaps"`
}

func (c *FleetConfig) defaults() error {
	if len(c.Sizes) == 0 {
		c.Sizes = []int{1, 2, 4, 8}
	}
	if c.Concurrency == 0 {
		c.Concurrency = defaultSlots
	}
	if c.Jobs == 0 {
		c.Jobs = 10000
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = FleetScenarios
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	switch {
	case c.RedisURL == "":
		return errors.New("bench: fleet: a Redis URL is required")
	case len(c.Command) == 0:
		return errors.New("bench: fleet: a worker command is required")
	case c.Concurrency < 1 || c.Jobs < 1 || c.Timeout < 0:
		return fmt.Errorf("bench: fleet: concurrency %d, jobs %d, timeout %v: want positive values", c.Concurrency, c.Jobs, c.Timeout)
	}
	for _, n := range c.Sizes {
		if n < 1 || n > 64 {
			return fmt.Errorf("bench: fleet: %d worker processes: want 1 to 64", n)
		}
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(FleetScenarios, s) {
			return fmt.Errorf("bench: fleet: unknown scenario %q: want one of %v", s, FleetScenarios)
		}
	}
	return nil
}

// RunFleet runs, for each scenario and each size, sessionq and then raw
// asynq: it fills the paused queue, starts that many worker processes,
// unpauses the queue and measures until every job has run. log gets one
// line per trial.
func RunFleet(ctx context.Context, cfg FleetConfig, log io.Writer) ([]FleetResult, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("bench: invalid Redis URL %q: %w", cfg.RedisURL, err)
	}
	r := &runner{
		opts: opts, admin: redis.NewClient(opts), counter: NewCounter(),
		log: slog.New(slog.DiscardHandler),
	}
	defer r.admin.Close()
	n, err := r.admin.DBSize(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("bench: reaching Redis at %s: %w", opts.Addr, err)
	}
	if n != 0 {
		return nil, fmt.Errorf("%w: database %d at %s holds %d keys", ErrNotEmpty, opts.DB, opts.Addr, n)
	}
	defer func() { _ = r.reset(context.WithoutCancel(ctx)) }()
	var out []FleetResult
	for _, sc := range cfg.Scenarios {
		w := spreadWorkload(cfg.Jobs)
		if sc == "zipf" {
			w = zipfWorkload(cfg.Jobs, 1000, 1.1, 1)
		}
		for _, size := range cfg.Sizes {
			for _, sys := range []system{sysSessionq, sysAsynq} {
				res, err := r.fleetTrial(ctx, cfg, w, sys, size)
				if err != nil {
					return out, fmt.Errorf("%s, %s, %d workers: %w", sc, sys, size, err)
				}
				res.Scenario = sc
				out = append(out, *res)
				if log != nil {
					_, _ = fmt.Fprintf(log, "%s %s %d workers: %.0f jobs/s, Redis %.0f us/job\n",
						sc, sys, size, res.JobsPerSec, us(res.RedisCPUPerJob))
				}
			}
		}
	}
	return out, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// fleetProc is one worker process of a trial.
type fleetProc struct {
	cmd   *exec.Cmd
	done  chan struct{}
	count atomic.Int64 // jobs it ran so far
	last  atomic.Int64 // the latest end, Unix ns
	ready chan struct{}

	mu     sync.Mutex
	events [][3]int64 // job index, start, end (Unix ns)
	cpu    time.Duration
	stderr strings.Builder // the first 4 KiB; read once done is closed
}

func (r *runner) fleetTrial(ctx context.Context, cfg FleetConfig, w *workload, sys system, size int) (*FleetResult, error) {
	if err := r.reset(ctx); err != nil {
		return nil, err
	}
	rec := newRecorder(w, nil)
	insp := asynq.NewInspectorFromRedisClient(r.admin)
	if err := insp.PauseQueue(benchQueue); err != nil {
		return nil, fmt.Errorf("pausing queue: %w", err)
	}
	c := r.client()
	defer c.Close()
	submit, err := r.submitter(c, sys, w)
	if err != nil {
		return nil, err
	}
	if err := fill(ctx, w, submit, rec); err != nil {
		return nil, err
	}
	procs := make([]*fleetProc, size)
	defer func() {
		for _, p := range procs {
			if p != nil {
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
	}()
	for k := range procs {
		p, err := startFleetProc(cfg, sys, k)
		if err != nil {
			return nil, err
		}
		procs[k] = p
	}
	for _, p := range procs {
		select {
		case <-p.ready:
		case <-p.done:
			return nil, fmt.Errorf("a worker process exited before it was ready: %s", strings.TrimSpace(p.stderr.String()))
		case <-time.After(30 * time.Second):
			return nil, errors.New("a worker process not ready after 30s")
		}
	}
	cpu0 := r.redisCPU(ctx)
	t0 := time.Now()
	if err := insp.UnpauseQueue(benchQueue); err != nil {
		return nil, fmt.Errorf("unpausing queue: %w", err)
	}
	// As jobs.Client.ResumeQueue does: workers see the resume at once.
	_ = r.admin.Publish(ctx, keys.QueueEvents, benchQueue).Err()
	deadline := time.After(cfg.Timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timedOut := false
wait:
	for {
		var ran int64
		for _, p := range procs {
			ran += p.count.Load()
		}
		if ran >= int64(w.n()) {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			timedOut = true
			break wait
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	cpu1 := r.redisCPU(ctx)
	var lastEnd int64
	for _, p := range procs {
		lastEnd = max(lastEnd, p.last.Load())
	}
	// Stop the workers: each prints its events and CPU time, then exits.
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	res := &FleetResult{System: sys.String(), Workers: size, Jobs: w.n()}
	var goCPU time.Duration
	for k, p := range procs {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			return nil, errors.New("a worker process did not stop within 30s")
		}
		procs[k] = nil
		p.mu.Lock()
		goCPU += p.cpu
		base := rec.base.UnixNano()
		for _, e := range p.events {
			i := int(e[0])
			if i < 0 || i >= w.n() {
				continue
			}
			rec.start[i].Store(e[1] - base + 1)
			rec.end[i].Store(e[2] - base + 1)
			rec.runs[i].Add(1)
		}
		p.mu.Unlock()
	}
	a := rec.analyze()
	res.Finished = a.finished
	res.OrderViolations, res.Overlaps = a.orderViolations, a.overlaps
	if timedOut {
		res.Elapsed = cfg.Timeout
	} else {
		res.Elapsed = time.Duration(lastEnd - t0.UnixNano())
	}
	if res.Elapsed > 0 {
		res.JobsPerSec = float64(a.finished) / res.Elapsed.Seconds()
	}
	if a.finished > 0 {
		res.RedisCPUPerJob = (cpu1 - cpu0) / time.Duration(a.finished)
		res.GoCPUPerJob = goCPU / time.Duration(a.finished)
	}
	if res.Elapsed > 0 {
		res.RedisBusy = float64(cpu1-cpu0) / float64(res.Elapsed)
	}
	if res.RedisCPUPerJob > 0 {
		res.Ceiling = float64(time.Second) / float64(res.RedisCPUPerJob)
	}
	return res, nil
}

// FleetWorkerArgs are the flags RunFleet appends to FleetConfig.Command.
func FleetWorkerArgs(redisURL string, raw bool, concurrency, k int) []string {
	args := []string{"--redis", redisURL, "--concurrency", strconv.Itoa(concurrency), "--id", "fleet-" + strconv.Itoa(k)}
	if raw {
		args = append(args, "--raw")
	}
	return args
}

func startFleetProc(cfg FleetConfig, sys system, k int) (*fleetProc, error) {
	args := append(slices.Clone(cfg.Command[1:]), FleetWorkerArgs(cfg.RedisURL, sys == sysAsynq, cfg.Concurrency, k)...)
	p := &fleetProc{cmd: exec.Command(cfg.Command[0], args...), done: make(chan struct{}), ready: make(chan struct{})}
	setProcAttr(p.cmd)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting a worker process: %w", err)
	}
	p.cmd.Stderr = &limitedWriter{b: &p.stderr, n: 4096}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a worker process: %w", err)
	}
	go func() {
		defer close(p.done)
		readyOnce := sync.OnceFunc(func() { close(p.ready) })
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 1 && f[0] == "ready":
				readyOnce()
			case len(f) == 3 && f[0] == "n":
				n, _ := strconv.ParseInt(f[1], 10, 64)
				last, _ := strconv.ParseInt(f[2], 10, 64)
				p.count.Store(n)
				p.last.Store(last)
			case len(f) == 4 && f[0] == "e":
				var e [3]int64
				for j := range e {
					e[j], _ = strconv.ParseInt(f[j+1], 10, 64)
				}
				p.mu.Lock()
				p.events = append(p.events, e)
				p.mu.Unlock()
			case len(f) == 2 && f[0] == "cpu":
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				p.mu.Lock()
				p.cpu = time.Duration(ns)
				p.mu.Unlock()
			}
		}
		_ = p.cmd.Wait()
	}()
	return p, nil
}

type limitedWriter struct {
	b *strings.Builder
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// FleetWorkerConfig configures FleetWorker.
type FleetWorkerConfig struct {
	// ID names the worker. Required.
	ID string
	// Raw runs a raw asynq server instead of a sessionq worker.
	Raw bool
	// Concurrency is its slots. Required.
	Concurrency int
}

// FleetWorker is the body of one worker process of RunFleet: a sessionq
// worker (configured as `sessionq worker` is, with the session table
// attached) or a raw asynq server, on rdb, whose no-op handler notes each
// job. It prints "ready" once started, "n COUNT LASTEND" about every 5 ms
// while jobs end, and, once ctx ends and it stopped, an "e INDEX START END"
// line per job run and "cpu NANOSECONDS", its CPU time from ready to the
// end of ctx.
func FleetWorker(ctx context.Context, rdb *redis.Client, cfg FleetWorkerConfig, out io.Writer) error {
	if cfg.ID == "" || cfg.Concurrency < 1 {
		return fmt.Errorf("bench: fleet worker: id %q, concurrency %d: want an ID and positive concurrency", cfg.ID, cfg.Concurrency)
	}
	var (
		mu     sync.Mutex
		events [][3]int64
		count  atomic.Int64
		last   atomic.Int64
	)
	note := func(p []byte, start int64) error {
		i, err := strconv.Atoi(string(p))
		if err != nil {
			return fmt.Errorf("bench: bad payload %q", p)
		}
		end := time.Now().UnixNano()
		mu.Lock()
		events = append(events, [3]int64{int64(i), start, end})
		mu.Unlock()
		last.Store(end)
		count.Add(1)
		return nil
	}
	quiet := slog.New(slog.DiscardHandler)
	var stop func()
	if cfg.Raw {
		srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
			Concurrency: cfg.Concurrency, Queues: map[string]int{benchQueue: 1},
			TaskCheckInterval: pollInterval, Logger: asynqLogger{quiet}, LogLevel: asynq.ErrorLevel,
		})
		h := func(_ context.Context, t *asynq.Task) error {
			if err := note(t.Payload(), time.Now().UnixNano()); err != nil {
				return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
			}
			return nil
		}
		if err := srv.Start(asynq.HandlerFunc(h)); err != nil {
			return fmt.Errorf("starting asynq server: %w", err)
		}
		stop = srv.Shutdown
	} else {
		tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet})
		if err != nil {
			return err
		}
		w, err := worker.New(rdb, worker.Config{ID: cfg.ID, Concurrency: cfg.Concurrency, Queues: []string{benchQueue},
			Logger: quiet, Attacher: worker.SessionTable(tbl)})
		if err != nil {
			return err
		}
		if err := w.HandleFunc(benchType, func(_ context.Context, job *worker.Job) error {
			if err := note(job.Payload, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("%w: %w", err, worker.ErrSkipRetry)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := w.Start(ctx); err != nil {
			return err
		}
		stop = w.Stop
	}
	bw := bufio.NewWriter(out)
	cpuReady := processCPU()
	_, _ = fmt.Fprintln(bw, "ready")
	_ = bw.Flush()
	tick := time.NewTicker(5 * time.Millisecond)
	var sent int64 = -1
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			if n := count.Load(); n != sent {
				sent = n
				_, _ = fmt.Fprintf(bw, "n %d %d\n", n, last.Load())
				_ = bw.Flush()
			}
		}
	}
	tick.Stop()
	cpu := processCPU() - cpuReady
	stop()
	mu.Lock()
	for _, e := range events {
		_, _ = fmt.Fprintf(bw, "e %d %d %d\n", e[0], e[1], e[2])
	}
	mu.Unlock()
	_, _ = fmt.Fprintf(bw, "cpu %d\n", cpu)
	return bw.Flush()
}

// WriteFleetTable prints results as a table, then the Redis-bound ceiling
// of each system and scenario: the median over sizes of one Redis core over
// Redis CPU per job.
func WriteFleetTable(w io.Writer, results []FleetResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	_, _ = fmt.Fprintln(tw, "scenario\tsystem\tworkers\tjobs\tjobs/s\tredis us/job\tredis busy\tgo us/job\tceiling jobs/s\torder\toverlaps\t")
	for _, r := range results {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.1f\t%.0f%%\t%.1f\t%.0f\t%d\t%d\t\n",
			r.Scenario, r.System, r.Workers, r.Finished, r.JobsPerSec, us(r.RedisCPUPerJob), 100*r.RedisBusy,
			us(r.GoCPUPerJob), r.Ceiling, r.OrderViolations, r.Overlaps)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	type key struct{ sc, sys string }
	ceilings := map[key][]float64{}
	var order []key
	for _, r := range results {
		k := key{r.Scenario, r.System}
		if _, ok := ceilings[k]; !ok {
			order = append(order, k)
		}
		ceilings[k] = append(ceilings[k], r.Ceiling)
	}
	_, _ = fmt.Fprintln(w)
	for _, k := range order {
		_, _ = fmt.Fprintf(w, "Redis-bound ceiling, %s, %s: %.0f jobs/s per Redis core (median over sizes)\n",
			k.sc, k.sys, medianFloat(ceilings[k]))
	}
	return nil
}

func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
