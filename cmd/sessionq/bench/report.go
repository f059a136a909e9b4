package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the outcome of one scenario. The first fields are sessionq's;
// the baselines follow.
type Result struct {
	Name string `json:"name"`
	Jobs int    `json:"jobs"`
	// JobsPerSec is sessionq's throughput (see Definitions).
	JobsPerSec float64 `json:"jobs_per_sec"`
	// RatioVsAsynq is sessionq's jobs/s over raw asynq's; for latency, raw
	// asynq's p50 over sessionq's (above 1: sessionq is better).
	RatioVsAsynq float64 `json:"ratio_vs_asynq"`
	// P50ms and P99ms are hand-off times (hot, zipf, handoff) or submit to
	// start latencies (latency); null for the others.
	P50ms           *float64 `json:"p50_ms"`
	P99ms           *float64 `json:"p99_ms"`
	OrderViolations int      `json:"order_violations"`
	Overlaps        int      `json:"overlaps"`

	What         string   `json:"what"`
	Target       string   `json:"target"`
	Met          bool     `json:"met"`
	Missed       []string `json:"missed,omitempty"`
	Rounds       int      `json:"rounds"`
	RatioVsNaive float64  `json:"ratio_vs_naive,omitempty"`
	// RatioVsLimit is sessionq's jobs/s over its ordering limit (median
	// trial): how close to the best any ordered system could do.
	RatioVsLimit float64 `json:"ratio_vs_ordering_limit"`
	// WorkMs is what each job's handler does (a sleep), ms; 0: no-op jobs,
	// whose ordering limit is far above what round trips allow.
	WorkMs float64 `json:"work_ms"`
	// CPURatioVsAsynq is raw asynq's CPU time per job (Redis server and
	// this process) over sessionq's: what the ratio would be on a machine
	// that is saturated by the bench alone, less sensitive to other load.
	CPURatioVsAsynq float64       `json:"cpu_ratio_vs_asynq,omitempty"`
	Sessionq        SystemResult  `json:"sessionq"`
	Asynq           SystemResult  `json:"asynq"`
	Naive           *SystemResult `json:"naive,omitempty"`
	// RatioVsNaiveDefault is sessionq's jobs/s over naive-default's (the
	// naive lock with asynq's default retry delay, run once and stopped at
	// a cap: see NaiveDefault.CapS and Finished).
	RatioVsNaiveDefault float64       `json:"ratio_vs_naive_default,omitempty"`
	NaiveDefault        *SystemResult `json:"naive_default,omitempty"`
}

// SystemResult is what one system did in a scenario.
type SystemResult struct {
	Fleet           string    `json:"fleet"` // workers x slots
	Jobs            int       `json:"jobs"`
	Finished        int       `json:"finished"`
	JobsPerSec      float64   `json:"jobs_per_sec"` // median over rounds
	AllJobsPerSec   []float64 `json:"all_jobs_per_sec"`
	ElapsedMs       float64   `json:"elapsed_ms"`
	TimedOut        bool      `json:"timed_out,omitempty"`
	CapS            float64   `json:"cap_s,omitempty"` // capped (naive-default): jobs/s = Finished within it / CapS
	P50ms           *float64  `json:"p50_ms"`
	P99ms           *float64  `json:"p99_ms"`
	Samples         int       `json:"samples,omitempty"`
	OrderViolations int       `json:"order_violations"` // all rounds
	Overlaps        int       `json:"overlaps"`         // all rounds
	Duplicates      int       `json:"duplicates"`       // all rounds
	MaxParallel     int       `json:"max_parallel"`     // most jobs running at once
	Contended       int64     `json:"lock_contended,omitempty"`
	// Round trips per finished job, in total and by what they did, while
	// the queue was filled (submit) and while it drained (run).
	SubmitRoundTripsPerJob float64            `json:"submit_round_trips_per_job"`
	RunRoundTripsPerJob    float64            `json:"run_round_trips_per_job"`
	SubmitRoundTrips       map[string]float64 `json:"submit_round_trips"`
	RunRoundTrips          map[string]float64 `json:"run_round_trips"`
	// OrderingLimit is the ordering limit of the median trial, jobs/s
	// (see Definitions).
	OrderingLimit float64 `json:"ordering_limit_jobs_per_sec"`
	// LongestChain is the session with the most handler time of the
	// median trial: its jobs, their handler time and the time from its
	// first start to its last end, ms.
	LongestChain     ChainResult `json:"longest_chain"`
	RedisCPUPerJobUs float64     `json:"redis_cpu_per_job_us"`
	GoCPUPerJobUs    float64     `json:"go_cpu_per_job_us"`
}

// ChainResult is one session's chain of jobs in a trial.
type ChainResult struct {
	Jobs   int     `json:"jobs"`
	WorkMs float64 `json:"work_ms"`
	SpanMs float64 `json:"span_ms"`
}

// cpuPerJob is the CPU time per job, Redis server and bench process, in µs.
func (s *SystemResult) cpuPerJob() float64 { return s.RedisCPUPerJobUs + s.GoCPUPerJobUs }

// WriteJSON writes the results as a JSON array, one object per scenario.
func WriteJSON(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rs)
}

// Definitions are the footer of the table: what each column means.
const Definitions = `jobs/s: plain, spread, hot, zipf, handoff: jobs / (time from unpausing a queue filled
  beforehand, workers already started, to the end of the last job); latency: jobs / time of
  the whole one-at-a-time loop. Same definition, jobs, sessions, order and slots for each system.
ratio: median over rounds of sessionq jobs/s over raw asynq jobs/s in the same round (systems
  alternate who goes first); latency: asynq p50 over sessionq p50 (> 1: better).
cpu ratio: raw asynq CPU per job over sessionq's (Redis server + bench process, median round):
  the ratio on a machine the bench has to itself.
ordering limit: the most jobs/s an ordered system could reach on the same fleet with the
  job times sessionq's handlers took (median round): jobs / max(total handler time / slots,
  the longest session's sum of handler times, which must run one after another); vs limit:
  sessionq jobs/s over it. Shown where jobs take time (zipf-1ms); with no-op jobs the limit
  is far above what Redis round trips allow (it is in the JSON all the same).
p50/p99: hot, zipf, handoff: time from the end of a session's job to the start of its next
  (sessionq); latency: submit to handler start. Nearest rank over all rounds.
order: jobs that started after a later-submitted job of their session; overlaps: jobs that
  started while another job of their session ran (all rounds; handler times on the process's
  monotonic clock, judged by internal/audit).
naive (fast retry): asynq handler that takes SET NX PX 30s per session, else returns an error that
  asynq retries after 10-50 ms (RetryDelayFunc; DelayedTaskCheckInterval 10 ms; asynq stores
  retry times in whole seconds, so a retry is due at the next forwarder pass or second).
naive-default: the same handler with asynq's defaults, DefaultRetryDelayFunc (n^4+15 s + jitter;
  contention is no failure, so n = 0: 15-44 s) and DelayedTaskCheckInterval 5 s; zipf scenarios,
  run once after the rounds, stopped at a cap: jobs/s = jobs done within the cap / the cap;
  its ratio is sessionq's median jobs/s over that.
Every asynq server polls an empty queue every 10 ms (TaskCheckInterval = worker PollInterval).`

// WriteTable writes the results as a readable table, with the baselines,
// the round trips per job, the targets missed and the definitions.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tjobs\tsessionq jobs/s\tasynq jobs/s\tratio\tcpu ratio\tordering limit\tvs limit\tp50 ms\tp99 ms\torder\toverlaps\tmet\t")
	for _, r := range rs {
		cpu := "-"
		if r.CPURatioVsAsynq > 0 {
			cpu = fmt.Sprintf("%.2fx", r.CPURatioVsAsynq)
		}
		limit, vs := "-", "-"
		if r.Sessionq.OrderingLimit > 0 && r.WorkMs > 0 {
			limit, vs = fmt.Sprintf("%.0f", r.Sessionq.OrderingLimit), fmt.Sprintf("%.2fx", r.RatioVsLimit)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2fx\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t\n",
			r.Name, r.Jobs, r.JobsPerSec, r.Asynq.JobsPerSec, r.RatioVsAsynq, cpu, limit, vs,
			optMs(r.P50ms), optMs(r.P99ms), r.OrderViolations, r.Overlaps, yes(r.Met))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	for _, r := range rs {
		if c := r.Sessionq.LongestChain; r.WorkMs > 0 && c.Jobs > 1 {
			fmt.Fprintf(w, "  %s: the longest session, %d jobs: %.0f ms of handler time, %.0f ms from its first start to its last end (%.3f ms per hand-off)\n",
				r.Name, c.Jobs, c.WorkMs, c.SpanMs, (c.SpanMs-c.WorkMs)/float64(c.Jobs-1))
		}
	}

	fmt.Fprintln(w, "\nTargets")
	for _, r := range rs {
		line := fmt.Sprintf("  %-8s %s: %s", r.Name, r.Target, yes(r.Met))
		if len(r.Missed) > 0 {
			line += " (" + strings.Join(r.Missed, "; ") + ")"
		}
		fmt.Fprintln(w, line)
		var vs []string
		if r.Naive != nil {
			vs = append(vs, fmt.Sprintf("%.2fx naive (fast retry)", r.RatioVsNaive))
		}
		if nd := r.NaiveDefault; nd != nil {
			ratio := "-"
			if r.RatioVsNaiveDefault > 0 {
				ratio = fmt.Sprintf("%.2fx", r.RatioVsNaiveDefault)
			}
			vs = append(vs, fmt.Sprintf("%s naive-default, %s (no target)", ratio, capLabel(nd)))
		}
		if len(vs) > 0 {
			fmt.Fprintf(w, "  %-8s sessionq jobs/s: %s\n", "", strings.Join(vs, "; "))
		}
	}

	fmt.Fprintln(w, "\nSystems (fleet = workers x slots; round trips per finished job; CPU per job)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tsystem\tfleet\tjobs/s (rounds)\tp50 ms\tp99 ms\torder\toverlaps\tsubmit RT\trun RT\tredis us\tgo us\t")
	for _, r := range rs {
		systems := []struct {
			name string
			s    *SystemResult
		}{{"sessionq", &r.Sessionq}, {"asynq", &r.Asynq}}
		if r.Naive != nil {
			systems = append(systems, struct {
				name string
				s    *SystemResult
			}{"naive", r.Naive})
		}
		if r.NaiveDefault != nil {
			systems = append(systems, struct {
				name string
				s    *SystemResult
			}{"naive-default", r.NaiveDefault})
		}
		for _, sy := range systems {
			s := sy.s
			rate := fmt.Sprintf("%.0f", s.JobsPerSec)
			if len(s.AllJobsPerSec) > 1 {
				parts := make([]string, len(s.AllJobsPerSec))
				for k, v := range s.AllJobsPerSec {
					parts[k] = fmt.Sprintf("%.0f", v)
				}
				rate += " (" + strings.Join(parts, " ") + ")"
			}
			switch {
			case s.CapS > 0:
				rate += " (" + capLabel(s) + ")"
			case s.TimedOut:
				rate += fmt.Sprintf(" cut: %d/%d", s.Finished, s.Jobs)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.2f\t%.2f\t%.0f\t%.0f\t\n",
				r.Name, sy.name, s.Fleet, rate, optMs(s.P50ms), optMs(s.P99ms), s.OrderViolations, s.Overlaps,
				s.SubmitRoundTripsPerJob, s.RunRoundTripsPerJob, s.RedisCPUPerJobUs, s.GoCPUPerJobUs)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nRedis round trips per job, by what they did (submit | run)")
	for _, r := range rs {
		fmt.Fprintf(w, "  %s\n", r.Name)
		fmt.Fprintf(w, "    sessionq  submit: %s\n", breakdown(r.Sessionq.SubmitRoundTrips))
		fmt.Fprintf(w, "              run:    %s\n", breakdown(r.Sessionq.RunRoundTrips))
		fmt.Fprintf(w, "    asynq     submit: %s\n", breakdown(r.Asynq.SubmitRoundTrips))
		fmt.Fprintf(w, "              run:    %s\n", breakdown(r.Asynq.RunRoundTrips))
		if r.Naive != nil {
			fmt.Fprintf(w, "    naive     run:    %s (lock refused %d times)\n", breakdown(r.Naive.RunRoundTrips), r.Naive.Contended)
		}
		if r.NaiveDefault != nil {
			fmt.Fprintf(w, "    naive-default run: %s (lock refused %d times)\n", breakdown(r.NaiveDefault.RunRoundTrips), r.NaiveDefault.Contended)
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", Definitions)
	return err
}

// breakdown lists per-job round trips, largest first, leaving out the ones
// below 0.005 per job (background work such as heartbeats).
func breakdown(m map[string]float64) string {
	rts, batched := map[string]float64{}, map[string]float64{}
	for k, v := range m {
		if l, ok := strings.CutPrefix(k, BatchedPrefix); ok {
			batched[l] = v
		} else {
			rts[k] = v
		}
	}
	out := breakdownOf(rts)
	if len(batched) > 0 {
		out += " (in batches: " + breakdownOf(batched) + ")"
	}
	return out
}

func breakdownOf(m map[string]float64) string {
	ks := slices.Collect(maps.Keys(m))
	slices.SortFunc(ks, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	var rest float64
	for _, k := range ks {
		if m[k] < 0.005 {
			rest += m[k]
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.3f", k, m[k]))
	}
	if rest > 0 {
		parts = append(parts, fmt.Sprintf("other %.3f", rest))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// capLabel says how a capped system's run ended: "capped at 20s: N of M
// jobs done", or that it did every job within the cap.
func capLabel(s *SystemResult) string {
	c := time.Duration(s.CapS * float64(time.Second))
	if !s.TimedOut {
		return fmt.Sprintf("all %d jobs done within the %s cap", s.Jobs, c)
	}
	return fmt.Sprintf("capped at %s: %d of %d jobs done", c, s.Finished, s.Jobs)
}

func optMs(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
