package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sessionq/sessionq/internal/audit"
	"github.com/sessionq/sessionq/internal/devredis"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// The demo's jobs live on a queue of their own, so that a demo run against
// a shared Redis never hands its jobs to other workers, nor takes theirs.
const (
	demoQueue = "sessionq-demo"
	demoType  = "demo.render"
	// demoInlineBudget makes a worker hand a session back to the queue
	// every few jobs, so that sessions move across the fleet.
	demoInlineBudget = 2
	demoRetryDelay   = 100 * time.Millisecond
	// demoGoroutines is how many goroutines submit the jobs of a session
	// submitted concurrently, and the jobs without a session.
	demoGoroutines = 4
	// demoFailIndex is the job of each session (0-based, in the plan's
	// order) that fails its first attempt.
	demoFailIndex = 2
)

type demoOptions struct {
	sessions    int
	perSession  int
	plain       int
	workers     int
	concurrency int
	jobTime     time.Duration
	timeout     time.Duration
}

func (o demoOptions) total() int { return o.sessions*o.perSession + o.plain }

func (o demoOptions) validate() error {
	switch {
	case o.sessions < 0 || o.sessions > 1000:
		return fmt.Errorf("invalid --sessions %d: want 0 to 1000", o.sessions)
	case o.perSession < 1 || o.perSession > 10000:
		return fmt.Errorf("invalid --jobs-per-session %d: want 1 to 10000", o.perSession)
	case o.plain < 0 || o.plain > 100000:
		return fmt.Errorf("invalid --plain-jobs %d: want 0 to 100000", o.plain)
	case o.total() == 0:
		return errors.New("nothing to run: --sessions and --plain-jobs are both 0")
	case o.workers < 1 || o.workers > 64:
		return fmt.Errorf("invalid --workers %d: want 1 to 64", o.workers)
	case o.concurrency < 1 || o.concurrency > 1000:
		return fmt.Errorf("invalid --concurrency %d: want 1 to 1000", o.concurrency)
	case o.jobTime < 0:
		return fmt.Errorf("invalid --job-time %s: must not be negative", o.jobTime)
	case o.timeout <= 0:
		return fmt.Errorf("invalid --timeout %s: must be positive", o.timeout)
	}
	return nil
}

func newDemoCmd(e *env) *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a sample workload and show that the guarantees hold",
		Long: `Run a sample workload on an in-process stack and show what sessionq guarantees.

Without --redis, demo starts an embedded in-memory Redis, so it needs nothing
installed. Several workers (--workers) with --concurrency slots each and a
scheduler run in this process. Document jobs are submitted over several
sessions (some sessions from several goroutines at once) next to jobs without
a session. All sessions but the last are live sessions of the session table;
the last is an ID that names no session, whose jobs run inactive and still in
order. Each job of a live session appends its sequence number to a file of its
session. The third job of each session fails once and is retried in place:
what its failed attempt wrote is not kept.

At the end a table shows, per session, whether its jobs started in submission
order, whether two of them ever ran at once, and whether its file lists every
job once and in order; and overall the parallelism reached. demo exits non-zero if a guarantee was broken.`,
		Example: `  sessionq demo
  sessionq demo --sessions 20 --jobs-per-session 5 --workers 5
  sessionq demo --redis redis://127.0.0.1:6379/0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			st, err := startRedis(ctx, cmd.Flags().Changed("redis"), cfg.Redis.URL, devredis.DefaultAddr)
			if err != nil {
				return err
			}
			defer st.close()
			fmt.Fprintf(e.out, "sessionq demo: %s, %d workers x %d slots, a scheduler.\n", st.desc, o.workers, o.concurrency)
			fmt.Fprintf(e.out, "Submitting %d sessions x %d document jobs (%d sessions from %d goroutines at once) and %d jobs without a session.\n",
				o.sessions, o.perSession, o.concurrentSessions(), min(demoGoroutines, o.perSession), o.plain)
			if o.sessions > 0 && o.perSession > demoFailIndex {
				fmt.Fprintf(e.out, "Job %d of each session fails once and is retried in place; a worker whose slots are all busy hands a session back to the queue every %d jobs.\n", demoFailIndex+1, demoInlineBudget)
				fmt.Fprintf(e.out, "Each job of a live session appends its sequence number to the session's file %s; only a successful run's changes are kept.\n", demoLog)
			}
			fmt.Fprintln(e.out)
			log := demoLogger(e.errOut, cfg.Log.Level)
			prog := newProgress(e.errOut, o.total())
			rep, err := runDemo(ctx, st, o, log, prog)
			prog.Finish()
			if err != nil {
				return err
			}
			rep.print(e.out)
			if v := rep.violations; len(v) > 0 {
				if len(v) > 3 {
					v = append(v[:3:3], fmt.Sprintf("and %d more", len(v)-3))
				}
				return fmt.Errorf("demo: guarantees broken: %s", strings.Join(v, "; "))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.sessions, "sessions", 6, "number of sessions")
	fs.IntVar(&o.perSession, "jobs-per-session", 8, "jobs per session")
	fs.IntVar(&o.plain, "plain-jobs", 20, "jobs without a session")
	fs.IntVar(&o.workers, "workers", 3, "workers (each a worker.Worker with its own slots) in this process")
	fs.IntVarP(&o.concurrency, "concurrency", "c", 4, "slots per worker")
	fs.DurationVar(&o.jobTime, "job-time", 500*time.Millisecond, "mean run time of a job")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up when the jobs have not all finished by then")
	return cmd
}

// demoLogger shows the workers' errors only (the demo's own failures are
// planned, and its report says how every job ended), unless the log level
// asks for more.
func demoLogger(w io.Writer, level string) *slog.Logger {
	lvl := slog.LevelInfo
	_ = lvl.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: max(lvl, slog.LevelError)}))
}

// A demo session and the jobs planned for it.
type demoSession struct {
	name       string // short name shown
	id         string // session ID (unique to the run)
	goroutines int    // submitting goroutines
	active     bool   // a session of the session table (else an unknown ID: inactive)
}

// demoLog is the session file each job of an active session appends its
// sequence number to; the write-back on success keeps it whole and in order.
const demoLog = "pages.log"

type demoJob struct {
	sess      int // index into sessions, -1 for a job without a session
	index     int // position in its submitting goroutine's sequence
	failFirst bool
}

type demoPayload struct {
	Run       string `json:"run"`
	Doc       string `json:"doc"`
	FailFirst bool   `json:"fail_first,omitempty"`
}

// concurrentSessions is how many sessions are submitted from several
// goroutines at once: every third one.
func (o demoOptions) concurrentSessions() int { return (o.sessions + 2) / 3 }

// plan lays out the sessions and, per submitting goroutine, the jobs it
// submits in order.
func (o demoOptions) plan(run string) ([]demoSession, [][]demoJob) {
	var sessions []demoSession
	var submitters [][]demoJob
	for i := range o.sessions {
		// Every session but the last is a live session of the table; the
		// last is an ID that names none: its jobs run inactive, still in order.
		s := demoSession{name: fmt.Sprintf("doc-%d", i+1), id: fmt.Sprintf("demo-%s-doc-%d", run, i+1), goroutines: 1, active: i < o.sessions-1 || o.sessions == 1}
		if i%3 == 0 {
			s.goroutines = min(demoGoroutines, o.perSession)
		}
		sessions = append(sessions, s)
		subs := make([][]demoJob, s.goroutines)
		for k := range o.perSession {
			g := k % s.goroutines
			idx := len(subs[g])
			subs[g] = append(subs[g], demoJob{sess: i, index: idx, failFirst: k == demoFailIndex})
		}
		submitters = append(submitters, subs...)
	}
	if o.plain > 0 {
		subs := make([][]demoJob, min(demoGoroutines, o.plain))
		for k := range o.plain {
			g := k % len(subs)
			subs[g] = append(subs[g], demoJob{sess: -1, index: len(subs[g])})
		}
		submitters = append(submitters, subs...)
	}
	return sessions, submitters
}

// submitted is one job as submitted.
type submitted struct {
	demoJob
	id  string
	seq int64
}

func runDemo(ctx context.Context, st *stack, o demoOptions, log *slog.Logger, prog progress) (*demoReport, error) {
	var b [3]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	rec := newRecorder(run, o.total(), prog)

	var workers []*worker.Worker
	stopWorkers := func() {
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(w.Stop)
		}
		wg.Wait()
	}
	defer stopWorkers()
	tbl, err := sessiontable.New(st.rdb, sessiontable.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	sessions, plan := o.plan(run)
	for i, s := range sessions {
		if !s.active {
			continue
		}
		info, err := tbl.Create(ctx, sessiontable.Spec{Owner: "demo-" + run})
		if err != nil {
			return nil, fmt.Errorf("creating demo session: %w", err)
		}
		sessions[i].id = info.ID
		defer func() { _ = tbl.Close(context.WithoutCancel(ctx), info.ID) }()
	}
	for i := range o.workers {
		w, err := worker.New(st.rdb, worker.Config{
			Attacher:             worker.SessionTable(tbl),
			ID:                   fmt.Sprintf("demo-%s-w%d", run, i+1),
			Concurrency:          o.concurrency,
			Queues:               []string{demoQueue},
			InlineBudget:         demoInlineBudget,
			RetryDelay:           func(int, error) time.Duration { return demoRetryDelay },
			DelayedCheckInterval: demoRetryDelay,
			Logger:               log,
		})
		if err != nil {
			return nil, err
		}
		if err := w.Handle(demoType, rec.handler(i+1, o.jobTime)); err != nil {
			return nil, err
		}
		if err := w.Start(ctx); err != nil {
			return nil, err
		}
		workers = append(workers, w)
	}
	sched, err := scheduler.New(st.rdb, scheduler.Config{ID: "demo-" + run, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := sched.Start(ctx); err != nil {
		return nil, err
	}
	defer sched.Stop()
	client, err := jobs.NewClient(st.rdb, jobs.ClientConfig{})
	if err != nil {
		return nil, err
	}
	defer client.Close()

	start := time.Now()
	subs, err := submitDemo(ctx, client, run, sessions, plan)
	if err != nil {
		return nil, err
	}
	timeout := time.NewTimer(o.timeout)
	defer timeout.Stop()
	finished := true
	select {
	case <-rec.done:
	case <-ctx.Done():
		return nil, errors.New("demo interrupted")
	case <-timeout.C:
		finished = false
	}
	// Stopping waits for the workers to record every outcome, so the job
	// states read next are final.
	stopWorkers()
	sched.Stop()
	rep := newReport(o, sessions, subs, rec, start)
	if !finished {
		rep.violations = append(rep.violations, fmt.Sprintf("only %d of %d jobs finished within %s", rec.doneCount(), o.total(), o.timeout))
	}
	if err := rep.checkStates(ctx, client, subs); err != nil {
		return nil, err
	}
	if err := rep.checkSessionLogs(ctx, tbl, sessions, subs); err != nil {
		return nil, err
	}
	return rep, nil
}

// submitDemo submits the plan, each goroutine's jobs in order, all
// goroutines at once.
func submitDemo(ctx context.Context, c *jobs.Client, run string, sessions []demoSession, plan [][]demoJob) ([]submitted, error) {
	out := make([][]submitted, len(plan))
	errs := make([]error, len(plan))
	var wg sync.WaitGroup
	for g, list := range plan {
		wg.Go(func() {
			for _, j := range list {
				p := demoPayload{Run: run, FailFirst: j.failFirst}
				var opts []jobs.Option
				if j.sess >= 0 {
					p.Doc = fmt.Sprintf("%s/g%d-%d", sessions[j.sess].name, g, j.index)
					opts = append(opts, jobs.Session(sessions[j.sess].id))
				} else {
					p.Doc = fmt.Sprintf("plain/g%d-%d", g, j.index)
				}
				payload, _ := json.Marshal(p)
				s, err := c.Submit(ctx, demoType, payload, append(opts, jobs.Queue(demoQueue))...)
				if err != nil {
					errs[g] = fmt.Errorf("submitting demo job: %w", err)
					return
				}
				out[g] = append(out[g], submitted{demoJob: j, id: s.ID, seq: s.Seq})
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(out...), nil
}

// recorder sees every run of a demo job. The order and overlap checks are
// the shared audit.Recorder's; around it, the recorder notes which worker ran
// what, the sequence number each handler was given, and successes.
type recorder struct {
	run   string
	total int
	prog  progress
	done  chan struct{}
	audit audit.Recorder

	mu        sync.Mutex
	runs      map[string]int          // by session ID ("": no session)
	workers   map[string]map[int]bool // by session ID ("": no session)
	seqSeen   map[string]int64        // job ID -> seq its handler was given
	succeeded map[string]int          // job ID -> successful runs
	finished  int
	last      time.Time
}

func newRecorder(run string, total int, prog progress) *recorder {
	return &recorder{
		run: run, total: total, prog: prog, done: make(chan struct{}),
		runs: map[string]int{}, workers: map[string]map[int]bool{},
		seqSeen: map[string]int64{}, succeeded: map[string]int{},
	}
}

func (r *recorder) handler(wi int, mean time.Duration) worker.HandlerFunc {
	return func(ctx context.Context, j *worker.Job) error {
		var p demoPayload
		if err := json.Unmarshal(j.Payload, &p); err != nil {
			return fmt.Errorf("demo payload: %w: %w", err, worker.ErrSkipRetry)
		}
		if p.Run != r.run {
			return nil // left over from another demo run on the same Redis
		}
		r.start(j, wi)
		ok := false
		defer func() { r.end(j, ok) }()
		if mean > 0 {
			// Uniform in [mean/2, 3*mean/2).
			if err := sleepCtx(ctx, mean/2+mrand.N(mean)); err != nil {
				return err
			}
		}
		// A job of a live session appends its sequence number to a file
		// of the session, also on the attempt that fails: only a
		// successful run's changes are written back.
		if s := sessiontable.FromContext(ctx); s.Active() {
			f, err := os.OpenFile(filepath.Join(s.Dir(), demoLog), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(f, j.Seq)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		if p.FailFirst && j.Attempt == 1 {
			return errors.New("simulated failure of the first attempt")
		}
		j.SetResult([]byte(`{"rendered":"` + p.Doc + `"}`))
		ok = true
		return nil
	}
}

func (r *recorder) start(j *worker.Job, wi int) {
	r.audit.Start(j.SessionID, j.Seq)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[j.SessionID]++
	if r.workers[j.SessionID] == nil {
		r.workers[j.SessionID] = map[int]bool{}
	}
	r.workers[j.SessionID][wi] = true
	if _, seen := r.seqSeen[j.ID]; !seen {
		r.seqSeen[j.ID] = j.Seq
	}
}

func (r *recorder) end(j *worker.Job, ok bool) {
	r.audit.End(j.SessionID)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.succeeded[j.ID]++
	if r.succeeded[j.ID] > 1 {
		return
	}
	r.finished++
	r.last = time.Now()
	r.prog.Add(1)
	if r.finished == r.total {
		close(r.done)
	}
}

func (r *recorder) doneCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished
}

// demoReport is the outcome of a demo run.
type demoReport struct {
	rows        []demoRow
	jobs        int
	states      map[jobs.State]int
	maxRunning  int
	slots       int
	workers     int
	wall        time.Duration
	violations  []string
	sessionJobs int
	sessions    int
}

type demoRow struct {
	active     string
	log        string
	name       string
	jobs       int
	goroutines int
	runs       int
	inOrder    string
	overlaps   string
	workers    int
}

func newReport(o demoOptions, sessions []demoSession, subs []submitted, rec *recorder, start time.Time) *demoReport {
	seen := rec.audit.Report()
	bySessionID := map[string]audit.SessionReport{}
	for _, sr := range seen.Sessions {
		bySessionID[sr.Session] = sr
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rep := &demoReport{
		jobs: len(subs), maxRunning: seen.MaxParallel, slots: o.workers * o.concurrency, workers: o.workers,
		sessions: len(sessions), states: map[jobs.State]int{},
	}
	if !rec.last.IsZero() {
		rep.wall = rec.last.Sub(start)
	}
	bySession := make([][]submitted, len(sessions))
	for _, s := range subs {
		if s.sess >= 0 {
			bySession[s.sess] = append(bySession[s.sess], s)
			rep.sessionJobs++
		}
		if seq, ok := rec.seqSeen[s.id]; ok && s.sess >= 0 && seq != s.seq {
			rep.violations = append(rep.violations, fmt.Sprintf("job %s ran with seq %d, submitted with %d", s.id, seq, s.seq))
		}
		if n := rec.succeeded[s.id]; n > 1 {
			rep.violations = append(rep.violations, fmt.Sprintf("job %s succeeded %d times", s.id, n))
		}
	}
	for i, s := range sessions {
		sr := bySessionID[s.id]
		row := demoRow{name: s.name, jobs: len(bySession[i]), goroutines: s.goroutines, runs: rec.runs[s.id],
			overlaps: fmt.Sprint(sr.Overlaps), workers: len(rec.workers[s.id]), inOrder: "yes"}
		if sr.Violations > 0 {
			row.inOrder = "NO"
			rep.violations = append(rep.violations, fmt.Sprintf("%s: %d start(s) out of submission order", s.name, sr.Violations))
		}
		if sr.Overlaps > 0 {
			rep.violations = append(rep.violations, fmt.Sprintf("%s: two jobs ran at once %d time(s)", s.name, sr.Overlaps))
		}
		if s.goroutines == 1 {
			// One goroutine submitted them in turn: seqs follow its order.
			for k := 1; k < len(bySession[i]); k++ {
				if bySession[i][k].seq <= bySession[i][k-1].seq {
					row.inOrder = "NO"
					rep.violations = append(rep.violations, fmt.Sprintf("%s: sequence numbers not in submission order", s.name))
					break
				}
			}
		}
		rep.rows = append(rep.rows, row)
	}
	if o.plain > 0 {
		rep.rows = append(rep.rows, demoRow{name: "(no session)", active: "-", log: "-", jobs: o.plain, goroutines: min(demoGoroutines, o.plain),
			runs: rec.runs[""], inOrder: "-", overlaps: "-", workers: len(rec.workers[""])})
	}
	return rep
}

// checkSessionLogs reads the log file of each live session: it must list
// every job's sequence number once, in order, and nothing of the failed
// attempts.
func (rep *demoReport) checkSessionLogs(ctx context.Context, tbl *sessiontable.Table, sessions []demoSession, subs []submitted) error {
	for i, s := range sessions {
		if !s.active {
			rep.rows[i].active, rep.rows[i].log = "no", "-"
			continue
		}
		rep.rows[i].active = "yes"
		var want []string
		var seqs []int64
		for _, sub := range subs {
			if sub.sess == i {
				seqs = append(seqs, sub.seq)
			}
		}
		slices.Sort(seqs)
		for _, q := range seqs {
			want = append(want, fmt.Sprint(q))
		}
		b, err := tbl.File(ctx, s.id, demoLog)
		if err != nil && !errors.Is(err, sessiontable.ErrFileNotFound) {
			return fmt.Errorf("reading %s of %s: %w", demoLog, s.name, err)
		}
		got := strings.Fields(string(b))
		if slices.Equal(got, want) {
			rep.rows[i].log = fmt.Sprintf("%d lines, in order", len(got))
			continue
		}
		rep.rows[i].log = fmt.Sprintf("WRONG: %d lines", len(got))
		rep.violations = append(rep.violations, fmt.Sprintf("%s: %s holds %v, want %v", s.name, demoLog, got, want))
	}
	return nil
}

// checkStates reads every job back and counts the final states; any job
// that did not succeed is a violation (nothing may be lost).
func (rep *demoReport) checkStates(ctx context.Context, c *jobs.Client, subs []submitted) error {
	var notOK int
	for _, s := range subs {
		in, err := c.Get(ctx, s.id)
		if err != nil {
			return fmt.Errorf("reading demo job %s: %w", s.id, err)
		}
		rep.states[in.State]++
		if in.State != jobs.StateSucceeded {
			notOK++
		}
	}
	if notOK > 0 {
		rep.violations = append(rep.violations, fmt.Sprintf("%d job(s) did not end succeeded: %s", notOK, rep.stateSummary()))
	}
	return nil
}

func (rep *demoReport) stateSummary() string {
	var parts []string
	for _, st := range []jobs.State{jobs.StateSucceeded, jobs.StateFailed, jobs.StateCancelled, jobs.StateRetrying,
		jobs.StateRunning, jobs.StatePending, jobs.StateParked} {
		if n := rep.states[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return strings.Join(parts, ", ")
}

func (rep *demoReport) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tACTIVE\tJOBS\tSUBMITTED BY\tRUNS\tIN ORDER\tOVERLAPS\tWORKERS\tSESSION FILE "+demoLog)
	for _, r := range rep.rows {
		by := "1 goroutine"
		if r.goroutines > 1 {
			by = fmt.Sprintf("%d goroutines", r.goroutines)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%d\t%s\n", r.name, r.active, r.jobs, by, r.runs, r.inOrder, r.overlaps, r.workers, r.log)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "jobs\t%d (%d in %d sessions, %d without a session): %s\n", rep.jobs, rep.sessionJobs, rep.sessions, rep.jobs-rep.sessionJobs, rep.stateSummary())
	fmt.Fprintf(tw, "parallelism reached\t%d jobs at once (%d workers x %d slots = %d)\n", rep.maxRunning, rep.workers, rep.slots/rep.workers, rep.slots)
	fmt.Fprintf(tw, "wall time\t%s\n", rep.wall.Round(10*time.Millisecond))
	if len(rep.violations) == 0 {
		fmt.Fprintf(tw, "guarantees\theld: every session started its jobs in submission order, never two at once; no job lost or run twice\n")
	} else {
		fmt.Fprintf(tw, "guarantees\tBROKEN: %s\n", strings.Join(rep.violations, "; "))
	}
	_ = tw.Flush()
}

// progress shows how many jobs are done.
type progress interface {
	Add(n int)
	Finish()
}

// newProgress draws a bar on w when it is a terminal, else prints a line
// every 10%.
func newProgress(w io.Writer, total int) progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{w: w, bar: progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("jobs done"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(40),
			progressbar.OptionThrottle(50*time.Millisecond),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionShowElapsedTimeOnFinish(),
		)}
	}
	return &lineProgress{w: w, total: total}
}

type barProgress struct {
	w    io.Writer
	bar  *progressbar.ProgressBar
	once sync.Once
}

func (p *barProgress) Add(n int) { _ = p.bar.Add(n) }

func (p *barProgress) Finish() {
	p.once.Do(func() {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	})
}

type lineProgress struct {
	w     io.Writer
	total int
	mu    sync.Mutex
	n     int
	tenth int
}

func (p *lineProgress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	if t := p.n * 10 / p.total; t > p.tenth {
		p.tenth = t
		fmt.Fprintf(p.w, "demo: %d%% (%d of %d jobs done)\n", t*10, p.n, p.total)
	}
}

func (p *lineProgress) Finish() {}
