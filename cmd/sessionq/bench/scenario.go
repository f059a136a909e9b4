package bench

import (
	"fmt"
	"time"
)

// metric says what a scenario's p50/p99 are.
type metric int

const (
	metricNone    metric = iota // throughput only
	metricGaps                  // hand-off: end of job k to start of job k+1 of a session
	metricLatency               // submit to start, on an idle system
)

// plan is what one scenario runs.
type plan struct {
	specs []trialSpec // one per system, in the order they run each round
	// capped are systems run once, after the rounds, and stopped at their
	// cap (spec.timeout): too slow to be run every round.
	capped  []trialSpec
	latency bool // one job at a time, instead of draining a filled queue
	metric  metric
}

// jobs is the number of jobs the plan submits over the given rounds.
func (p plan) jobs(rounds int) int64 {
	var n int64
	for _, s := range p.specs {
		n += int64(rounds) * int64(s.w.n())
	}
	for _, s := range p.capped {
		n += int64(s.w.n())
	}
	return n
}

// scenario is one line of the results.
type scenario struct {
	name, what, target string
	plan               func(cfg Config) plan
	// check says whether the result meets the target, and what it misses.
	check func(r *Result) (bool, []string)
}

// size picks the full or quick job count, shrunk by cfg.scale.
func size(cfg Config, full, quick int) int {
	n := full
	if cfg.Quick {
		n = quick
	}
	return max(int(float64(n)*cfg.scale), 4)
}

func timeout(cfg Config, full, quick time.Duration) time.Duration {
	if cfg.Quick {
		return quick
	}
	return full
}

// Worker fleet of the scenarios: the worker's default concurrency.
const defaultSlots = 10

// Caps of the naive-default baseline (Config.NaiveDefaultCap).
const (
	naiveDefaultCap      = 20 * time.Second
	naiveDefaultCapQuick = 8 * time.Second
)

// naiveDefault is the naive-default baseline of a zipf scenario: the naive
// lock with asynq's default retry delay and forwarder, on the fleet of the
// other systems, once, stopped at the cap; none if the cap is negative.
func naiveDefault(cfg Config, w *workload, work time.Duration) []trialSpec {
	if cfg.NaiveDefaultCap < 0 {
		return nil
	}
	return []trialSpec{{sys: sysNaiveDefault, w: w, instances: 3, concurrency: defaultSlots,
		timeout: cfg.NaiveDefaultCap, work: work, capped: true}}
}

func specs(w *workload, instances, slots int, to time.Duration, systems ...system) []trialSpec {
	out := make([]trialSpec, len(systems))
	for k, s := range systems {
		out[k] = trialSpec{sys: s, w: w, instances: instances, concurrency: slots, timeout: to}
	}
	return out
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "plain", what: "no-op jobs without a session",
			target: ">= 0.95x asynq",
			plan: func(cfg Config) plan {
				w := plainWorkload(size(cfg, 20000, 5000))
				return plan{specs: specs(w, 1, defaultSlots, timeout(cfg, 60*time.Second, 20*time.Second), sysSessionq, sysAsynq)}
			},
			check: func(r *Result) (bool, []string) { return ratioAtLeast(r, 0.95) },
		},
		{
			name: "spread", what: "sessions of one job each",
			target: ">= 0.80x asynq",
			plan: func(cfg Config) plan {
				w := spreadWorkload(size(cfg, 10000, 3000))
				return plan{specs: specs(w, 1, defaultSlots, timeout(cfg, 60*time.Second, 20*time.Second), sysSessionq, sysAsynq)}
			},
			check: func(r *Result) (bool, []string) { return ratioAtLeast(r, 0.80) },
		},
		{
			name: "hot", what: "one session, all jobs queued, 1 slot each",
			target: ">= 1.6x asynq (1 slot), 0 order violations, 0 overlaps",
			plan: func(cfg Config) plan {
				w := oneSessionWorkload("hot", size(cfg, 5000, 2000))
				return plan{specs: specs(w, 1, 1, timeout(cfg, 60*time.Second, 20*time.Second), sysSessionq, sysAsynq), metric: metricGaps}
			},
			check: func(r *Result) (bool, []string) {
				return all(r, func(r *Result) (bool, []string) { return ratioAtLeast(r, 1.6) }, correct)
			},
		},
		{
			name: "zipf", what: "Zipf(1.1) over 1,000 sessions, 3 workers",
			target: "0 order violations, 0 overlaps, >= 0.90x asynq, >= 10x naive lock",
			plan: func(cfg Config) plan {
				w := zipfWorkload(size(cfg, 20000, 5000), 1000, 1.1, 1)
				p := plan{specs: specs(w, 3, defaultSlots, timeout(cfg, 60*time.Second, 20*time.Second), sysSessionq, sysAsynq), metric: metricGaps}
				// The naive lock may never finish: it is cut at its timeout and
				// its rate is what it did until then.
				p.specs = append(p.specs, specs(w, 3, defaultSlots, timeout(cfg, 45*time.Second, 15*time.Second), sysNaive)...)
				p.capped = naiveDefault(cfg, w, 0)
				return p
			},
			check: func(r *Result) (bool, []string) {
				return all(r, correct,
					func(r *Result) (bool, []string) { return ratioAtLeast(r, 0.90) },
					func(r *Result) (bool, []string) {
						if r.RatioVsNaive >= 10 {
							return true, nil
						}
						return false, []string{fmt.Sprintf("%.2fx the naive lock, below 10x", r.RatioVsNaive)}
					})
			},
		},
		{
			name: "zipf-1ms", what: "zipf with jobs of 1 ms (sleep): where locks contend",
			target: "0 order violations, 0 overlaps, >= 0.85x the ordering limit, >= 10x naive lock",
			plan: func(cfg Config) plan {
				w := zipfWorkload(size(cfg, 5000, 2000), 1000, 1.1, 2)
				p := plan{specs: specs(w, 3, defaultSlots, timeout(cfg, 60*time.Second, 20*time.Second), sysSessionq, sysAsynq), metric: metricGaps}
				p.specs = append(p.specs, specs(w, 3, defaultSlots, timeout(cfg, 30*time.Second, 15*time.Second), sysNaive)...)
				for k := range p.specs {
					p.specs[k].work = time.Millisecond
				}
				p.capped = naiveDefault(cfg, w, time.Millisecond)
				return p
			},
			check: func(r *Result) (bool, []string) {
				return all(r, correct,
					func(r *Result) (bool, []string) {
						if r.RatioVsLimit >= 0.85 {
							return true, nil
						}
						return false, []string{fmt.Sprintf("%.2fx the ordering limit, below 0.85x", r.RatioVsLimit)}
					},
					func(r *Result) (bool, []string) {
						if r.RatioVsNaive >= 10 {
							return true, nil
						}
						return false, []string{fmt.Sprintf("%.2fx the naive lock, below 10x", r.RatioVsNaive)}
					})
			},
		},
		{
			name: "chain-1ms", what: "one session of 1 ms jobs (sleep), 1 slot: the hand-off after a job that takes time",
			target: "0 order violations, 0 overlaps (the ordering limit is shown: what hand-offs cost)",
			plan: func(cfg Config) plan {
				w := oneSessionWorkload("chain-1ms", size(cfg, 1000, 400))
				p := plan{specs: specs(w, 1, 1, timeout(cfg, 60*time.Second, 20*time.Second), sysSessionq, sysAsynq), metric: metricGaps}
				for k := range p.specs {
					p.specs[k].work = time.Millisecond
				}
				return p
			},
			check: correct,
		},
		{
			name: "latency", what: "idle system, one session job at a time",
			target: "start p50 <= 20 ms, p99 <= 100 ms",
			plan: func(cfg Config) plan {
				w := oneSessionWorkload("latency", size(cfg, 400, 150))
				return plan{specs: specs(w, 1, defaultSlots, timeout(cfg, 60*time.Second, 15*time.Second), sysSessionq, sysAsynq), latency: true, metric: metricLatency}
			},
			check: func(r *Result) (bool, []string) { return percentilesAtMost(r, 20, 100) },
		},
		{
			name: "handoff", what: "backlog in one session, default worker (10 slots) vs asynq 1 slot",
			target: "next start after previous end, p99 <= 1 ms, 0 order violations, 0 overlaps",
			plan: func(cfg Config) plan {
				w := oneSessionWorkload("handoff", size(cfg, 5000, 2000))
				to := timeout(cfg, 60*time.Second, 20*time.Second)
				p := plan{specs: specs(w, 1, defaultSlots, to, sysSessionq), metric: metricGaps}
				p.specs = append(p.specs, specs(w, 1, 1, to, sysAsynq)...)
				return p
			},
			check: func(r *Result) (bool, []string) {
				return all(r, func(r *Result) (bool, []string) { return percentilesAtMost(r, -1, 1) }, correct)
			},
		},
	}
}

func ratioAtLeast(r *Result, want float64) (bool, []string) {
	if r.RatioVsAsynq >= want {
		return true, nil
	}
	return false, []string{fmt.Sprintf("%.2fx asynq, below %.2fx", r.RatioVsAsynq, want)}
}

// correct checks exclusion and order, and that every job ran once.
func correct(r *Result) (bool, []string) {
	var miss []string
	if r.OrderViolations > 0 {
		miss = append(miss, fmt.Sprintf("%d order violations", r.OrderViolations))
	}
	if r.Overlaps > 0 {
		miss = append(miss, fmt.Sprintf("%d overlaps", r.Overlaps))
	}
	if r.Sessionq.Duplicates > 0 {
		miss = append(miss, fmt.Sprintf("%d duplicate runs", r.Sessionq.Duplicates))
	}
	if r.Sessionq.TimedOut {
		miss = append(miss, fmt.Sprintf("timed out with %d of %d jobs done", r.Sessionq.Finished, r.Sessionq.Jobs))
	}
	return len(miss) == 0, miss
}

// all runs every check on r: met when each is, missing what any misses.
func all(r *Result, checks ...func(*Result) (bool, []string)) (bool, []string) {
	ok := true
	var miss []string
	for _, c := range checks {
		o, m := c(r)
		ok = ok && o
		miss = append(miss, m...)
	}
	return ok, miss
}

func percentilesAtMost(r *Result, p50, p99 float64) (bool, []string) {
	var miss []string
	if r.P50ms == nil || r.P99ms == nil {
		return false, []string{"no samples"}
	}
	if p50 >= 0 && *r.P50ms > p50 {
		miss = append(miss, fmt.Sprintf("p50 %.2f ms above %.0f ms", *r.P50ms, p50))
	}
	if p99 >= 0 && *r.P99ms > p99 {
		miss = append(miss, fmt.Sprintf("p99 %.2f ms above %.0f ms", *r.P99ms, p99))
	}
	return len(miss) == 0, miss
}
