// Package bench measures sessionq against raw asynq, and against a naive
// per-session lock on asynq, on one Redis in one process, so that the ratios
// hold on a noisy machine: `sessionq bench`.
//
// Every scenario runs the same workload (jobs, sessions, submission order,
// job count, concurrency) on each system it compares, one after the other on
// the same Redis, which is emptied (FLUSHDB) before each trial. Handlers are
// no-ops that note, on the process's monotonic clock, when each job starts
// and ends; order violations, overlaps and hand-off times are computed from
// those notes. A go-redis hook (Counter) counts the Redis round trips of each
// trial by what they did.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config configures Run.
type Config struct {
	// RedisURL is the Redis to run on. Its database must be empty: the
	// bench empties it (FLUSHDB) before every trial. Required.
	RedisURL string
	// Quick runs smaller workloads, in well under a minute on 2 cores.
	Quick bool
	// Rounds is how often each system is measured per scenario, the
	// systems alternating; the median throughput is reported. Default 3,
	// or 2 with Quick.
	Rounds int
	// Scenarios names the scenarios to run, in Names order. Default all.
	Scenarios []string
	// InlineBudget is the sessionq workers' InlineBudget; 0 keeps the
	// worker's default.
	InlineBudget int
	// NoBatching and BatchInFlight are the sessionq workers' (worker.Config):
	// each ledger call in a round trip of its own, or the most ledger
	// pipelines in flight (0: the worker's default).
	NoBatching    bool
	BatchInFlight int
	// Log receives the errors logged by workers. Default io.Discard.
	Log io.Writer
	// NaiveDefaultCap is the wall-clock cap of the naive-default baseline of
	// the zipf scenarios (the naive lock with asynq's default retry delay),
	// run once per scenario after the rounds: it is stopped after the cap,
	// and its jobs/s are the jobs done within the cap over the cap. Default
	// 20s, or 8s with Quick; negative: do not run it.
	NaiveDefaultCap time.Duration
	// Progress, when set, is called about every 100ms while Run runs, with
	// the running scenario and the jobs done out of the jobs planned.
	Progress func(scenario string, done, total int64)
	// scale shrinks every workload further (tests); 0 means 1.
	scale float64
}

// Names are the scenarios, in the order they run.
var Names = []string{"plain", "spread", "hot", "zipf", "zipf-1ms", "chain-1ms", "latency", "handoff"}

// runner is one Run.
type runner struct {
	cfg      Config
	opts     *redis.Options
	admin    *redis.Client // not counted
	counter  *Counter
	progress atomic.Int64
	log      *slog.Logger
}

func (r *runner) logger() *slog.Logger { return r.log }

// client returns a new client whose round trips are counted.
func (r *runner) client() *redis.Client {
	o := *r.opts
	c := redis.NewClient(&o)
	c.AddHook(r.counter)
	return c
}

// reset empties the bench's database.
func (r *runner) reset(ctx context.Context) error {
	if err := r.admin.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("emptying the bench database: %w", err)
	}
	return nil
}

// ErrNotEmpty means the Redis database given to the bench holds keys.
var ErrNotEmpty = errors.New("bench: the Redis database is not empty")

// Run runs the scenarios and returns their results, in order.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Rounds == 0 {
		cfg.Rounds = 3
		if cfg.Quick {
			cfg.Rounds = 2
		}
	}
	if cfg.Rounds < 1 {
		return nil, fmt.Errorf("bench: rounds %d below 1", cfg.Rounds)
	}
	if cfg.scale == 0 {
		cfg.scale = 1
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.NaiveDefaultCap == 0 {
		cfg.NaiveDefaultCap = naiveDefaultCap
		if cfg.Quick {
			cfg.NaiveDefaultCap = naiveDefaultCapQuick
		}
	}
	scs, err := selectScenarios(cfg.Scenarios)
	if err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("bench: invalid Redis URL %q: %w", cfg.RedisURL, err)
	}
	r := &runner{
		cfg: cfg, opts: opts, admin: redis.NewClient(opts), counter: NewCounter(),
		log: slog.New(slog.NewTextHandler(cfg.Log, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	defer r.admin.Close()
	n, err := r.admin.DBSize(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("bench: reaching Redis at %s: %w", opts.Addr, err)
	}
	if n != 0 {
		return nil, fmt.Errorf("%w: database %d at %s holds %d keys; give an empty database (the bench empties it between trials)", ErrNotEmpty, opts.DB, opts.Addr, n)
	}
	defer func() { _ = r.reset(context.WithoutCancel(ctx)) }()

	var total int64
	for _, sc := range scs {
		total += sc.plan(cfg).jobs(cfg.Rounds)
	}
	var current atomic.Value
	current.Store("")
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress == nil {
			return
		}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				cfg.Progress(current.Load().(string), r.progress.Load(), total)
				return
			case <-t.C:
				cfg.Progress(current.Load().(string), r.progress.Load(), total)
			}
		}
	}()
	defer func() { close(stopProgress); <-progressDone }()

	var out []Result
	for _, sc := range scs {
		current.Store(sc.name)
		res, err := r.run(ctx, sc)
		if err != nil {
			return out, fmt.Errorf("bench: scenario %s: %w", sc.name, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func selectScenarios(names []string) ([]scenario, error) {
	all := scenarios()
	if len(names) == 0 {
		return all, nil
	}
	var out []scenario
	for _, sc := range all {
		if slices.Contains(names, sc.name) {
			out = append(out, sc)
		}
	}
	for _, n := range names {
		if !slices.Contains(Names, n) {
			return nil, fmt.Errorf("bench: unknown scenario %q (known: %s)", n, strings.Join(Names, ", "))
		}
	}
	return out, nil
}

// run measures every system of sc, Rounds times, alternating.
func (r *runner) run(ctx context.Context, sc scenario) (Result, error) {
	p := sc.plan(r.cfg)
	trials := map[system][]*trialResult{}
	for round := range r.cfg.Rounds {
		order := slices.Clone(p.specs)
		if round%2 == 1 {
			// Alternate who goes first, so that a drift of the machine's
			// load does not favour one system.
			slices.Reverse(order)
		}
		for _, spec := range order {
			var t *trialResult
			var err error
			if p.latency {
				t, err = r.latency(ctx, spec)
			} else {
				t, err = r.drain(ctx, spec)
			}
			if err != nil {
				return Result{}, fmt.Errorf("%s: %w", spec.sys, err)
			}
			trials[spec.sys] = append(trials[spec.sys], t)
		}
	}
	for _, spec := range p.capped {
		t, err := r.drain(ctx, spec)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", spec.sys, err)
		}
		trials[spec.sys] = append(trials[spec.sys], t)
	}
	res := Result{Name: sc.name, What: sc.what, Target: sc.target, Rounds: r.cfg.Rounds}
	if len(p.specs) > 0 {
		res.WorkMs = ms(p.specs[0].work)
	}
	res.Sessionq = summarize(trials[sysSessionq], p.metric)
	res.Asynq = summarize(trials[sysAsynq], p.metric)
	if t := trials[sysNaive]; len(t) > 0 {
		s := summarize(t, p.metric)
		res.Naive = &s
	}
	if t := trials[sysNaiveDefault]; len(t) > 0 {
		s := summarize(t, p.metric)
		s.CapS = t[0].spec.timeout.Seconds()
		res.NaiveDefault = &s
		// Run once, not every round: sessionq's median over naive-default's.
		if d := t[0].jobsPerSec(); d > 0 {
			res.RatioVsNaiveDefault = round3(res.Sessionq.JobsPerSec / d)
		}
	}
	res.Jobs = res.Sessionq.Jobs
	res.JobsPerSec = res.Sessionq.JobsPerSec
	res.P50ms, res.P99ms = res.Sessionq.P50ms, res.Sessionq.P99ms
	res.OrderViolations, res.Overlaps = res.Sessionq.OrderViolations, res.Sessionq.Overlaps
	if p.metric == metricLatency {
		// Ratio of start latencies, asynq over sessionq: above 1 is faster.
		if res.Sessionq.P50ms != nil && res.Asynq.P50ms != nil && *res.Sessionq.P50ms > 0 {
			res.RatioVsAsynq = round3(*res.Asynq.P50ms / *res.Sessionq.P50ms)
		}
	} else {
		res.RatioVsAsynq = round3(pairedRatio(trials[sysSessionq], trials[sysAsynq]))
	}
	if t := trials[sysNaive]; len(t) > 0 {
		res.RatioVsNaive = round3(pairedRatio(trials[sysSessionq], t))
	}
	if l := res.Sessionq.OrderingLimit; l > 0 {
		res.RatioVsLimit = round3(res.Sessionq.JobsPerSec / l)
	}
	if sq, aq := res.Sessionq.cpuPerJob(), res.Asynq.cpuPerJob(); !p.latency && sq > 0 && aq > 0 {
		res.CPURatioVsAsynq = round3(aq / sq)
	}
	res.Met, res.Missed = sc.check(&res)
	return res, nil
}

// summarize reports the trials of one system: the median throughput trial
// (the upper one of an even count) for rates, round trips and CPU; every
// trial for correctness; the pooled samples for percentiles.
func summarize(ts []*trialResult, m metric) SystemResult {
	if len(ts) == 0 {
		return SystemResult{}
	}
	sorted := slices.Clone(ts)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].jobsPerSec() < sorted[j].jobsPerSec() })
	med := sorted[len(sorted)/2]
	s := SystemResult{
		Fleet:      med.spec.fleet(),
		Jobs:       med.spec.w.n(),
		Finished:   med.a.finished,
		JobsPerSec: round1(med.jobsPerSec()),
		ElapsedMs:  round1(ms(med.elapsed)),
		TimedOut:   med.timedOut,
		Contended:  med.contended,
	}
	var samples []time.Duration
	for _, t := range ts {
		s.OrderViolations += t.a.audit.Violations
		s.Overlaps += t.a.audit.Overlaps
		s.MaxParallel = max(s.MaxParallel, t.a.audit.MaxParallel)
		s.Duplicates += t.a.duplicates
		s.AllJobsPerSec = append(s.AllJobsPerSec, round1(t.jobsPerSec()))
		switch m {
		case metricLatency:
			samples = append(samples, t.a.latency...)
		case metricGaps:
			samples = append(samples, t.a.gaps...)
		}
	}
	if len(samples) > 0 {
		p50, p99 := ms(percentile(samples, 50)), ms(percentile(samples, 99))
		s.P50ms, s.P99ms = &p50, &p99
		s.Samples = len(samples)
	}
	n := float64(max(med.a.finished, 1))
	s.SubmitRoundTrips = perJob(med.fill, n)
	s.RunRoundTrips = perJob(med.drain, n)
	s.SubmitRoundTripsPerJob = round3(float64(med.fill.Total()) / n)
	s.RunRoundTripsPerJob = round3(float64(med.drain.Total()) / n)
	s.OrderingLimit = round1(med.orderingLimit())
	s.LongestChain = ChainResult{Jobs: med.a.chainJobs, WorkMs: ms(med.a.chain), SpanMs: ms(med.a.chainSpan)}
	s.RedisCPUPerJobUs = round1(float64(med.redisCPU.Microseconds()) / n)
	s.GoCPUPerJobUs = round1(float64(med.goCPU.Microseconds()) / n)
	return s
}

// pairedRatio is the median, over rounds, of a's jobs/s over b's in the
// same round: the two ran back to back, so a slow phase of a noisy machine
// weighs on both sides of each ratio.
func pairedRatio(a, b []*trialResult) float64 {
	var rs []float64
	for k := range min(len(a), len(b)) {
		if d := b[k].jobsPerSec(); d > 0 {
			rs = append(rs, a[k].jobsPerSec()/d)
		}
	}
	return median(rs)
}

// median of xs (the mean of the middle two for an even count); 0 if empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func perJob(rt RoundTrips, n float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range rt {
		out[k] = round3(float64(v) / n)
	}
	return out
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
