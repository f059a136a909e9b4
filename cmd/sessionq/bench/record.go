package bench

import (
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sessionq/sessionq/internal/audit"
)

// recorder notes, for every job of one trial, when it was submitted, when
// its handler started and when it ended, on the process's monotonic clock
// (all workers of a trial run in this process, so one clock orders them).
// Times are nanoseconds since base, plus one, so that zero means "not yet".
type recorder struct {
	w     *workload
	base  time.Time
	sub   []atomic.Int64
	start []atomic.Int64
	end   []atomic.Int64
	runs  []atomic.Int32 // handler runs of job i (more than one: a duplicate run)

	finished atomic.Int64 // jobs that ended at least once
	progress *atomic.Int64
	allDone  chan struct{}
	started  chan int // when non-nil, the index of every job that starts
}

func newRecorder(w *workload, progress *atomic.Int64) *recorder {
	n := w.n()
	if progress == nil {
		progress = new(atomic.Int64)
	}
	return &recorder{
		w: w, base: time.Now(),
		sub: make([]atomic.Int64, n), start: make([]atomic.Int64, n), end: make([]atomic.Int64, n),
		runs: make([]atomic.Int32, n), progress: progress, allDone: make(chan struct{}),
	}
}

func (r *recorder) now() int64 { return int64(time.Since(r.base)) + 1 }

// submitted notes that job i is about to be submitted.
func (r *recorder) submitted(i int) { r.sub[i].Store(r.now()) }

// begin notes that job i starts; it is called by a handler.
func (r *recorder) begin(i int) {
	r.start[i].Store(r.now())
	if r.started != nil {
		select {
		case r.started <- i:
		default: // a second run of a job: never block a handler
		}
	}
}

// done notes that job i ends; it is called by a handler.
func (r *recorder) done(i int) {
	r.end[i].Store(r.now())
	if r.runs[i].Add(1) == 1 {
		r.progress.Add(1)
		if r.finished.Add(1) == int64(len(r.end)) {
			close(r.allDone)
		}
	}
}

// finishedBy counts the jobs that had ended at t (ns since base, plus one).
func (r *recorder) finishedBy(t int64) int {
	n := 0
	for i := range r.end {
		if en := r.end[i].Load(); en != 0 && en <= t {
			n++
		}
	}
	return n
}

// job parses the payload of a bench job: its index in the workload.
func (r *recorder) job(payload []byte) (int, bool) {
	i, err := strconv.Atoi(string(payload))
	if err != nil || i < 0 || i >= len(r.end) {
		return 0, false
	}
	return i, true
}

func payload(i int) []byte { return strconv.AppendInt(nil, int64(i), 10) }

// analysis is what a recorder's notes say about one trial.
type analysis struct {
	finished   int
	duplicates int   // extra runs of jobs that had already run
	lastEnd    int64 // latest end, ns since base (+1)
	// orderViolations counts jobs that started after a job submitted later in
	// the same session had started.
	orderViolations int
	// overlaps counts jobs that started while an earlier-started job of the
	// same session was still running.
	overlaps int
	// gaps are, per session, the times from the end of job k to the start of
	// job k+1 (submission order), for both finished: the hand-off.
	gaps []time.Duration
	// latency are the times from submit to start, for jobs with both noted.
	latency []time.Duration
	// work is the sum of the jobs' handler times (start to end, each job's
	// first run), and chain the largest sum of them over the jobs of one
	// session: what the ordering limit is made of (orderingLimit).
	work, chain time.Duration
	// chainJobs and chainSpan are the jobs of the session with the longest
	// chain, and the time from its first start to its last end: what the
	// hand-offs added to its chain.
	chainJobs int
	chainSpan time.Duration
	// audit is internal/audit's verdict on the same notes; the bench
	// reports its counts (the ones above are an independent check).
	audit audit.Report
}

// analyze reads the notes; call it once the trial is over.
func (r *recorder) analyze() analysis {
	var a analysis
	n := len(r.end)
	bySession := map[string][]int{}
	chains := map[string]time.Duration{}
	for i := range n {
		st, en, su := r.start[i].Load(), r.end[i].Load(), r.sub[i].Load()
		if en != 0 {
			a.finished++
			a.lastEnd = max(a.lastEnd, en)
			a.duplicates += int(r.runs[i].Load()) - 1
		}
		if en != 0 && st != 0 && en >= st {
			d := time.Duration(en - st)
			a.work += d
			if s := r.w.sess[i]; s != "" {
				chains[s] += d
				a.chain = max(a.chain, chains[s])
			} else {
				a.chain = max(a.chain, d)
			}
		}
		if st != 0 && su != 0 {
			a.latency = append(a.latency, time.Duration(st-su))
		}
		if s := r.w.sess[i]; s != "" && st != 0 {
			bySession[s] = append(bySession[s], i)
		}
	}
	longest := ""
	for s, c := range chains {
		if c == a.chain && (longest == "" || s < longest) {
			longest = s
		}
	}
	if jobs := bySession[longest]; longest != "" {
		first, last := int64(math.MaxInt64), int64(0)
		for _, i := range jobs {
			first, last = min(first, r.start[i].Load()), max(last, r.end[i].Load())
		}
		a.chainJobs, a.chainSpan = len(jobs), time.Duration(last-first)
	}
	for _, jobs := range bySession {
		a.orderViolations += r.orderViolations(jobs)
		a.overlaps += r.overlaps(jobs)
		a.gaps = append(a.gaps, r.gaps(jobs)...)
	}
	a.audit = r.replay()
	return a
}

// replay feeds the notes, in time order, to the checker the tests and the
// demo use (internal/audit). At equal times an end goes before a start: a
// job that starts the nanosecond its predecessor ends does not overlap it.
func (r *recorder) replay() audit.Report {
	type event struct {
		t   int64
		end bool
		i   int
	}
	var evs []event
	for i := range r.start {
		if st := r.start[i].Load(); st != 0 {
			evs = append(evs, event{t: st, i: i})
			if en := r.end[i].Load(); en != 0 {
				evs = append(evs, event{t: en, end: true, i: i})
			}
		}
	}
	slices.SortFunc(evs, func(a, b event) int {
		if c := cmp64(a.t, b.t); c != 0 {
			return c
		}
		switch {
		case a.end && !b.end:
			return -1
		case !a.end && b.end:
			return 1
		}
		return 0
	})
	var rec audit.Recorder
	for _, e := range evs {
		if e.end {
			rec.End(r.w.sess[e.i])
		} else {
			rec.Start(r.w.sess[e.i], int64(r.w.seq[e.i]))
		}
	}
	return rec.Report()
}

// orderViolations counts, among jobs of one session, those that started
// after a job with a later sequence number had started.
func (r *recorder) orderViolations(jobs []int) int {
	byStart := slices.Clone(jobs)
	slices.SortFunc(byStart, func(a, b int) int { return cmp64(r.start[a].Load(), r.start[b].Load()) })
	v := 0
	maxSeq := int32(-1)
	for _, i := range byStart {
		if r.w.seq[i] < maxSeq {
			v++
		}
		maxSeq = max(maxSeq, r.w.seq[i])
	}
	return v
}

// overlaps counts, among jobs of one session, those that started before
// every job that had started earlier had ended. A job still running (no end)
// is taken to run for ever.
func (r *recorder) overlaps(jobs []int) int {
	byStart := slices.Clone(jobs)
	slices.SortFunc(byStart, func(a, b int) int { return cmp64(r.start[a].Load(), r.start[b].Load()) })
	o := 0
	var latestEnd int64
	for k, i := range byStart {
		st, en := r.start[i].Load(), r.end[i].Load()
		if en == 0 {
			en = math.MaxInt64
		}
		if k > 0 && st < latestEnd {
			o++
		}
		latestEnd = max(latestEnd, en)
	}
	return o
}

// gaps are the hand-off times between consecutive jobs (by sequence) of one
// session that both ran.
func (r *recorder) gaps(jobs []int) []time.Duration {
	bySeq := slices.Clone(jobs)
	slices.SortFunc(bySeq, func(a, b int) int { return int(r.w.seq[a]) - int(r.w.seq[b]) })
	var out []time.Duration
	for k := 1; k < len(bySeq); k++ {
		p, s := bySeq[k-1], bySeq[k]
		if r.w.seq[s] != r.w.seq[p]+1 {
			continue
		}
		pe, ss := r.end[p].Load(), r.start[s].Load()
		if pe != 0 && ss != 0 {
			out = append(out, time.Duration(ss-pe))
		}
	}
	return out
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// percentile returns the p-th percentile (0..100) of ds by the nearest-rank
// method, or -1 when ds is empty. It sorts ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	slices.Sort(ds)
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	rank = min(max(rank, 1), len(ds))
	return ds[rank-1]
}
