package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestZipfWorkload(t *testing.T) {
	t.Parallel()
	a := zipfWorkload(20000, 1000, 1.1, 1)
	b := zipfWorkload(20000, 1000, 1.1, 1)
	require.Equal(t, a.sess, b.sess, "same seed, same workload")
	require.LessOrEqual(t, a.sessions, 1000)

	// Within each session, seq counts 0, 1, 2... in submission order.
	next := map[string]int32{}
	for i, s := range a.sess {
		require.Equal(t, next[s], a.seq[i], "job %d of %s", i, s)
		next[s]++
	}
	// Zipf(1.1) over 1000: the top session has 1/H(1000,1.1) ~ 18% of jobs.
	top := float64(a.largestSession()) / 20000
	require.InDelta(t, 0.18, top, 0.02)
	require.Equal(t, "zipf-0000", a.sess[slicesIndexMax(a)])
}

// slicesIndexMax returns a job of the largest session.
func slicesIndexMax(w *workload) int {
	c := map[string]int{}
	best, at := 0, 0
	for i, s := range w.sess {
		c[s]++
		if c[s] > best {
			best, at = c[s], i
		}
	}
	return at
}

func TestWorkloads(t *testing.T) {
	t.Parallel()
	p := plainWorkload(5)
	require.Equal(t, 5, p.n())
	require.Zero(t, p.sessions)
	s := spreadWorkload(5)
	require.Equal(t, 5, s.sessions)
	require.Equal(t, 1, s.largestSession())
	h := oneSessionWorkload("h", 5)
	require.Equal(t, []int32{0, 1, 2, 3, 4}, h.seq)
	require.Equal(t, 5, h.largestSession())
}

// note sets the times of job i of r, in ms (0: not noted).
func note(r *recorder, i int, sub, start, end int64) {
	ms := int64(time.Millisecond)
	if sub != 0 {
		r.sub[i].Store(sub * ms)
	}
	if start != 0 {
		r.start[i].Store(start * ms)
	}
	if end != 0 {
		r.end[i].Store(end * ms)
		r.runs[i].Add(1)
	}
}

func TestAnalyze(t *testing.T) {
	t.Parallel()
	// Session a: in order, serial. Session b: job 1 starts before job 0
	// (an order violation) and while it runs (an overlap). One plain job.
	w := &workload{
		sess: []string{"a", "a", "a", "b", "b", ""},
		seq:  []int32{0, 1, 2, 0, 1, 0},
	}
	r := newRecorder(w, nil)
	note(r, 0, 1, 10, 20)
	note(r, 1, 1, 22, 30)
	note(r, 2, 1, 35, 40)
	note(r, 3, 2, 50, 60)
	note(r, 4, 2, 45, 55)
	note(r, 5, 3, 7, 8)
	a := r.analyze()
	require.Equal(t, 6, a.finished)
	require.Equal(t, 1, a.orderViolations)
	require.Equal(t, 1, a.overlaps)
	require.Equal(t, 1, a.audit.Violations, "internal/audit agrees")
	require.Equal(t, 1, a.audit.Overlaps, "internal/audit agrees")
	require.Equal(t, 2, a.audit.MaxParallel)
	require.Equal(t, int64(60*time.Millisecond), a.lastEnd)
	require.ElementsMatch(t, []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, -15 * time.Millisecond}, a.gaps)
	require.Len(t, a.latency, 6)
	require.Equal(t, 4*time.Millisecond, percentile(a.latency, 0))
}

func TestAnalyzeUnfinishedJobOverlapsWhatFollows(t *testing.T) {
	t.Parallel()
	w := oneSessionWorkload("s", 3)
	r := newRecorder(w, nil)
	note(r, 0, 0, 10, 0) // started, never ended
	note(r, 1, 0, 20, 30)
	a := r.analyze()
	require.Equal(t, 1, a.finished)
	require.Equal(t, 1, a.overlaps)
	require.Zero(t, a.orderViolations)
	require.Equal(t, 1, a.audit.Overlaps)
	require.Empty(t, a.gaps, "no gap without the predecessor's end")
}

func TestAnalyzeBackToBackIsNoOverlap(t *testing.T) {
	t.Parallel()
	r := newRecorder(oneSessionWorkload("s", 2), nil)
	note(r, 0, 0, 10, 20)
	note(r, 1, 0, 20, 30) // starts as its predecessor ends
	a := r.analyze()
	require.Zero(t, a.overlaps)
	require.Zero(t, a.audit.Overlaps)
	require.Equal(t, []time.Duration{0}, a.gaps)
}

func TestRecorderDoneOnce(t *testing.T) {
	t.Parallel()
	r := newRecorder(oneSessionWorkload("s", 2), nil)
	r.begin(0)
	r.done(0)
	r.done(0) // a duplicate run
	select {
	case <-r.allDone:
		t.Fatal("done before every job ran")
	default:
	}
	r.begin(1)
	r.done(1)
	<-r.allDone
	a := r.analyze()
	require.Equal(t, 2, a.finished)
	require.Equal(t, 1, a.duplicates)
	require.Equal(t, int64(2), r.progress.Load())

	i, ok := r.job(payload(1))
	require.True(t, ok)
	require.Equal(t, 1, i)
	for _, bad := range []string{"", "x", "-1", "2"} {
		_, ok := r.job([]byte(bad))
		require.False(t, ok, bad)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	require.Equal(t, time.Duration(-1), percentile(nil, 50))
	ds := make([]time.Duration, 100)
	for k := range ds {
		ds[k] = time.Duration(100-k) * time.Millisecond
	}
	require.Equal(t, 50*time.Millisecond, percentile(ds, 50))
	require.Equal(t, 99*time.Millisecond, percentile(ds, 99))
	require.Equal(t, 100*time.Millisecond, percentile(ds, 100))
	require.Equal(t, time.Millisecond, percentile(ds, 0))
}

func TestMedianAndPairedRatio(t *testing.T) {
	t.Parallel()
	require.Zero(t, median(nil))
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))

	tr := func(jobs int, secs float64) *trialResult {
		return &trialResult{a: analysis{finished: jobs}, elapsed: time.Duration(secs * float64(time.Second))}
	}
	a := []*trialResult{tr(100, 1), tr(100, 2), tr(100, 1)}
	b := []*trialResult{tr(100, 2), tr(100, 2), tr(100, 4)}
	// Paired: 2, 1, 4: median 2.
	require.Equal(t, 2.0, pairedRatio(a, b))
}

func TestLabel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	evalsha := func(keys []string, argv ...any) *redis.Cmd {
		args := []any{"evalsha", "0123", len(keys)}
		for _, k := range keys {
			args = append(args, k)
		}
		return redis.NewCmd(ctx, append(args, argv...)...)
	}
	sess := []string{"sq:{s}:run", "sq:{s}:pend", "sq:{s}:j:j1", "sq:{s}:sess", "sq:{s}:ev"}
	argv13 := make([]any, 14)

	fin := evalsha(sess, argv13...)
	fin.SetVal([]any{"succeeded", nil, nil, nil, "run", "j2"})
	require.Equal(t, LabelFinishRun, label(fin))
	fin.SetVal([]any{"succeeded", nil, nil, nil, "enqueue", "j2"})
	require.Equal(t, LabelFinishEnqueue, label(fin))
	fin.SetVal([]any{"succeeded", nil, nil, nil, "none"})
	require.Equal(t, LabelFinishNone, label(fin))
	fin.SetVal([]any{"stale"})
	require.Equal(t, LabelFinishOther, label(fin))

	require.Equal(t, LabelAcquire, label(evalsha(sess, "j1", 1, "w", 10000)))
	require.Equal(t, LabelSubmit, label(evalsha(sess, "j1", "0", "type", "t", "payload", "p")))
	require.Equal(t, LabelRenew, label(evalsha([]string{"sq:{s}:run"}, "j1", 1, 1000)))

	q := func(k string) string { return "asynq:{default}:" + k }
	require.Equal(t, LabelEnqueue, label(evalsha([]string{q("t:abc"), q("pending")}, "m", "abc", 1)))
	deq := evalsha([]string{q("pending"), q("paused"), q("active"), q("lease")}, 1, "p")
	require.Equal(t, LabelDequeue, label(deq))
	deq.SetErr(redis.Nil)
	require.Equal(t, LabelDequeueEmpty, label(deq))
	require.Equal(t, LabelDone, label(evalsha([]string{q("active"), q("lease"), q("t:abc"), q("processed:2026-01-01"), q("processed")}, "abc", 1, 2)))
	require.Equal(t, "script(x,y)", label(evalsha([]string{"x", "y"})))
	require.Equal(t, "set", label(redis.NewStatusCmd(ctx, "SET", "k", "v")))
	require.Equal(t, "evalsha", label(redis.NewCmd(ctx, "evalsha", "sha", "nope")))
}

func TestKeyKind(t *testing.T) {
	t.Parallel()
	for k, want := range map[string]string{
		"asynq:{default}:t:abc":       "t",
		"asynq:{default}:pending":     "pending",
		"sq:{a:b}:j:x":                "j",
		"sq:ji:{j1}":                  "sq",
		"naive:{s}:lock":              "lock",
		"asynq:{q}:processed:2026-01": "processed",
	} {
		require.Equal(t, want, keyKind(k), k)
	}
}

func TestCounterCountsRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, _ := redistest.Client(t)
	cnt := NewCounter()
	c.AddHook(cnt)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.NoError(t, c.Get(ctx, "k").Err())
	before := cnt.Snapshot()
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		p.Incr(ctx, "n")
		p.Get(ctx, "n")
		return nil
	})
	require.NoError(t, err)
	d := cnt.Snapshot().Sub(before)
	require.Equal(t, int64(1), d["pipeline(incr+get)"])
	require.Equal(t, int64(1), d.Total()-d[LabelConnect], "one round trip, besides a new connection's handshake: %v", d)
	all := cnt.Snapshot()
	require.Equal(t, int64(1), all["set"])
	require.Equal(t, int64(1), all["get"])
}

func TestSelectScenarios(t *testing.T) {
	t.Parallel()
	all, err := selectScenarios(nil)
	require.NoError(t, err)
	require.Len(t, all, len(Names))
	for k, sc := range all {
		require.Equal(t, Names[k], sc.name)
	}
	some, err := selectScenarios([]string{"zipf", "plain"})
	require.NoError(t, err)
	require.Equal(t, "plain", some[0].name, "run order is Names order")
	require.Equal(t, "zipf", some[1].name)
	_, err = selectScenarios([]string{"nope"})
	require.ErrorContains(t, err, `unknown scenario "nope"`)
}

func TestChecks(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	r := &Result{RatioVsAsynq: 0.9, P50ms: f(3), P99ms: f(7), OrderViolations: 1}
	ok, miss := ratioAtLeast(r, 0.95)
	require.False(t, ok)
	require.Equal(t, []string{"0.90x asynq, below 0.95x"}, miss)
	ok, _ = ratioAtLeast(r, 0.8)
	require.True(t, ok)
	ok, miss = percentilesAtMost(r, -1, 5)
	require.False(t, ok)
	require.Equal(t, []string{"p99 7.00 ms above 5 ms"}, miss)
	ok, miss = all(r, correct, func(r *Result) (bool, []string) { return percentilesAtMost(r, 20, 100) })
	require.False(t, ok)
	require.Equal(t, []string{"1 order violations"}, miss)
}

func TestRunRefusesNonEmptyDatabase(t *testing.T) {
	t.Parallel()
	c, url := redistest.Client(t)
	require.NoError(t, c.Set(t.Context(), "mine", "keep", 0).Err())
	_, err := Run(t.Context(), Config{RedisURL: url, Quick: true})
	require.ErrorIs(t, err, ErrNotEmpty)
	v, err := c.Get(t.Context(), "mine").Result()
	require.NoError(t, err)
	require.Equal(t, "keep", v)
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := Run(t.Context(), Config{RedisURL: "redis://127.0.0.1:1/0", Rounds: -1})
	require.ErrorContains(t, err, "rounds")
	_, err = Run(t.Context(), Config{RedisURL: "http://x"})
	require.ErrorContains(t, err, "invalid Redis URL")
	_, err = Run(t.Context(), Config{RedisURL: "redis://127.0.0.1:1/0", Scenarios: []string{"x"}})
	require.ErrorContains(t, err, "unknown scenario")
}

// TestRunSmall runs every scenario on tiny workloads: it checks the runner's
// plumbing and sessionq's guarantees, never its speed.
func TestRunSmall(t *testing.T) {
	c, url := redistest.Client(t)
	var calls int
	rs, err := Run(t.Context(), Config{
		RedisURL: url, Quick: true, Rounds: 1, scale: 0.01, NaiveDefaultCap: time.Second,
		Progress: func(string, int64, int64) { calls++ },
	})
	require.NoError(t, err)
	require.Len(t, rs, len(Names))
	for _, r := range rs {
		require.Equal(t, r.Sessionq.Jobs, r.Sessionq.Finished, r.Name)
		require.Equal(t, r.Asynq.Jobs, r.Asynq.Finished, r.Name)
		require.Zero(t, r.OrderViolations, r.Name)
		require.Zero(t, r.Overlaps, r.Name)
		require.Zero(t, r.Sessionq.Duplicates, r.Name)
		require.Positive(t, r.JobsPerSec, r.Name)
		require.Positive(t, r.RatioVsAsynq, r.Name)
		require.Positive(t, r.Sessionq.RunRoundTripsPerJob, r.Name)
	}
	byName := map[string]Result{}
	for _, r := range rs {
		byName[r.Name] = r
	}
	require.NotNil(t, byName["zipf"].Naive)
	require.Nil(t, byName["plain"].Naive)
	for _, n := range []string{"zipf", "zipf-1ms"} {
		nd := byName[n].NaiveDefault
		require.NotNil(t, nd, n)
		require.Equal(t, 1.0, nd.CapS, n)
		require.Len(t, nd.AllJobsPerSec, 1, "%s: run once", n)
		require.Positive(t, nd.Finished, n)
		require.Positive(t, byName[n].RatioVsNaiveDefault, n)
	}
	require.Nil(t, byName["plain"].NaiveDefault)
	require.Nil(t, byName["plain"].P50ms)
	require.NotNil(t, byName["latency"].P50ms)
	require.NotNil(t, byName["hot"].P99ms)
	// A plain job: one enqueue to submit, a dequeue and a completion to run.
	// (Tolerance: the first call of a script on a new server is two round
	// trips, EVALSHA answered NOSCRIPT, then EVAL.)
	require.InDelta(t, 1, byName["plain"].Sessionq.SubmitRoundTrips[LabelEnqueue], 0.15)
	require.InDelta(t, 1, byName["plain"].Sessionq.RunRoundTrips[LabelDequeue], 0.15, "%v", byName["plain"].Sessionq.RunRoundTrips)
	// A lone session job: acquire, then finish with nothing behind it, each
	// alone or in a batch with other slots' calls; a batch is one round trip.
	spread := byName["spread"].Sessionq.RunRoundTrips
	for _, l := range []string{LabelAcquire, LabelFinishNone} {
		require.InDelta(t, 1, spread[l]+spread[BatchedPrefix+l], 0.15, "%s: %v", l, spread)
	}
	require.LessOrEqual(t, spread[LabelBatch], spread[BatchedPrefix+LabelAcquire]+spread[BatchedPrefix+LabelFinishNone])
	// The ordering limit: known where the jobs take time.
	z := byName["zipf-1ms"]
	require.Positive(t, z.Sessionq.OrderingLimit)
	require.Greater(t, z.Sessionq.OrderingLimit, z.JobsPerSec*0.5, "the limit is an upper bound (up to noise)")
	require.InDelta(t, z.JobsPerSec/z.Sessionq.OrderingLimit, z.RatioVsLimit, 0.01)
	require.Positive(t, calls)

	// The bench leaves its database empty.
	n, err := c.DBSize(t.Context()).Result()
	require.NoError(t, err)
	require.Zero(t, n)

	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rs))
	var objs []map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &objs))
	for _, o := range objs {
		for _, k := range []string{"name", "jobs", "jobs_per_sec", "ratio_vs_asynq", "p50_ms", "p99_ms", "order_violations", "overlaps"} {
			require.Contains(t, o, k)
		}
		if o["name"] == "zipf" {
			require.Contains(t, o, "ratio_vs_naive_default")
			require.Contains(t, o, "naive_default")
		}
	}
	buf.Reset()
	require.NoError(t, WriteTable(&buf, rs))
	for _, n := range Names {
		require.Contains(t, buf.String(), n)
	}
	require.Contains(t, buf.String(), "jobs/s:")
	require.Contains(t, buf.String(), "naive-default")
}

// TestNaiveDefaultIsCapped runs the naive-default baseline on one session
// of 30-way contention: refused jobs retry after 15 s or more, so the trial
// is cut at its cap, counts what ended within it, and stops its servers
// (TestMain fails on leaked goroutines) without waiting for the retries.
func TestNaiveDefaultIsCapped(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	r := &runner{opts: opts, admin: redis.NewClient(opts), counter: NewCounter(), log: slog.New(slog.DiscardHandler)}
	defer r.admin.Close()
	w := oneSessionWorkload("nd", 300)
	spec := naiveDefault(Config{NaiveDefaultCap: time.Second}, w, 0)
	require.Len(t, spec, 1)

	start := time.Now()
	res, err := r.drain(t.Context(), spec[0])
	took := time.Since(start)
	require.NoError(t, err)
	require.Less(t, took, 6*time.Second, "the cap, the fill and a clean stop; no waiting for retries")
	require.True(t, res.timedOut)
	require.Equal(t, time.Second, res.elapsed)
	require.Positive(t, res.contended)
	require.Positive(t, res.a.finished)
	require.Less(t, res.a.finished, w.n())
	require.InDelta(t, float64(res.a.finished), res.jobsPerSec(), 1e-9)

	s := summarize([]*trialResult{res}, metricGaps)
	s.CapS = 1
	require.Equal(t, fmt.Sprintf("capped at 1s: %d of 300 jobs done", res.a.finished), capLabel(&s))
	s.TimedOut = false
	require.Equal(t, "all 300 jobs done within the 1s cap", capLabel(&s))
	require.Nil(t, naiveDefault(Config{NaiveDefaultCap: -1}, w, 0), "a negative cap skips it")
}

// The ordering limit is the jobs over the larger of the work spread over
// every slot and the longest session's chain.
func TestOrderingLimit(t *testing.T) {
	// Sessions a (3 jobs of 10 ms) and b (1 job of 10 ms), one job with no
	// session (20 ms), on 2 slots: work 60 ms / 2 = 30 ms, chain 30 ms.
	w := &workload{sess: []string{"a", "a", "a", "b", ""}, seq: []int32{0, 1, 2, 0, 0}, sessions: 2}
	r := newRecorder(w, nil)
	ms := int64(time.Millisecond)
	for i, d := range []int64{10, 10, 10, 10, 20} {
		r.start[i].Store(100*ms*int64(i) + 1)
		r.end[i].Store(100*ms*int64(i) + 1 + d*ms)
	}
	a := r.analyze()
	require.Equal(t, 60*time.Millisecond, a.work)
	require.Equal(t, 30*time.Millisecond, a.chain)
	require.Equal(t, 3, a.chainJobs, "session a")
	require.Equal(t, 210*time.Millisecond, a.chainSpan, "a's first start to its last end")
	tr := &trialResult{spec: trialSpec{w: w, instances: 1, concurrency: 2}, a: a}
	require.InDelta(t, 5/0.030, tr.orderingLimit(), 0.01)
	// On 10 slots the chain is what limits: still 30 ms.
	tr.spec.concurrency = 10
	require.InDelta(t, 5/0.030, tr.orderingLimit(), 0.01)
	// On 1 slot the work is: 60 ms.
	tr.spec.concurrency = 1
	require.InDelta(t, 5/0.060, tr.orderingLimit(), 0.01)
}
