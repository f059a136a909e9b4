// Package worker runs sessionq jobs: a process with N slots that takes jobs
// from asynq queues, holds a per-session lease with a fencing token while a
// session job runs, renews it, and moves the session on when the job ends.
//
// A job whose session is busy is never waited for in a slot: it stays
// parked in Redis and is dispatched when its turn comes. When a job ends and
// the next job of its session is already parked, the slot keeps the lease
// and runs it at once (session affinity), up to a fairness budget, then
// hands the session back to the queue.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/ident"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/jobs"
)

// Config configures a Worker. Zero values take the defaults named.
type Config struct {
	// ID names this worker in leases and logs. Default host-pid-random.
	ID string
	// Concurrency is the number of slots. Default 10.
	Concurrency int
	// Queues are the queues served. Default ["default"].
	Queues []string
	// Priorities weighs the queues of Queues (asynq's weighted priority): a
	// queue of weight 6 is taken from about six times as often as one of
	// weight 1. A queue not named here has weight 1; every name must be in
	// Queues and every weight 1 or more. Default: all equal.
	Priorities map[string]int
	// StrictPriority takes from a queue only when every queue of higher
	// weight is empty (asynq's StrictPriority). Default false.
	StrictPriority bool
	// Lease is the session lease duration; it is renewed every Lease/3 while
	// a job runs, and a job whose lease cannot be renewed for Lease is
	// cancelled. Default 10s.
	Lease time.Duration
	// ShutdownGrace is how long Stop lets running jobs finish before it
	// cancels them and hands them back. Default 10s.
	ShutdownGrace time.Duration
	// Retention is how long a finished session job stays readable. Default 24h.
	Retention time.Duration
	// InlineBudget is how many jobs of one session a slot runs back to back
	// before it hands the session to the queue, when every slot of the
	// worker is busy (with a slot free, nothing waits for this one, and it
	// goes on, for an hour at most). Default 64; negative disables session
	// affinity.
	InlineBudget int
	// InlineTime bounds the time a slot spends on one session back to back
	// while every slot is busy. Default 5s.
	InlineTime time.Duration
	// PollInterval is how often an idle worker looks for new tasks (asynq's
	// TaskCheckInterval). It bounds the start latency of an idle system.
	// Default 10ms.
	PollInterval time.Duration
	// DelayedCheckInterval is how often scheduled jobs and retries are moved
	// to their queue (asynq's DelayedTaskCheckInterval). Default 1s.
	DelayedCheckInterval time.Duration
	// RetryDelay gives the wait before retry n (n >= 1) of a failed job.
	// Default: 1s doubling up to 5m, with 20% jitter.
	RetryDelay func(n int, err error) time.Duration
	// MaxResult caps the stored result of a job, in bytes. Default 64 KiB.
	MaxResult int
	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
	// Attacher gives session jobs their session's files and parameters.
	// Default none.
	Attacher Attacher
	// Registerer receives the worker's Prometheus metrics
	// (sessionq_jobs_*, sessionq_leases_lost_total, ...). Default none.
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() (Config, error) {
	if c.ID == "" {
		c.ID = ident.New()
	}
	if c.Concurrency == 0 {
		c.Concurrency = 10
	}
	if len(c.Queues) == 0 {
		c.Queues = []string{jobs.DefaultQueue}
	}
	if c.Lease == 0 {
		c.Lease = 10 * time.Second
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.Retention == 0 {
		c.Retention = jobs.DefaultRetention
	}
	if c.InlineBudget == 0 {
		c.InlineBudget = 64
	}
	if c.InlineTime == 0 {
		c.InlineTime = 5 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Millisecond
	}
	if c.DelayedCheckInterval == 0 {
		c.DelayedCheckInterval = time.Second
	}
	if c.RetryDelay == nil {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.MaxResult == 0 {
		c.MaxResult = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fmt.Errorf("worker: concurrency %d out of range 1..10000", c.Concurrency)
	case c.Lease < 100*time.Millisecond:
		return fmt.Errorf("worker: lease %s shorter than 100ms", c.Lease)
	case c.ShutdownGrace < 0:
		return fmt.Errorf("worker: shutdown grace %s is negative", c.ShutdownGrace)
	case c.Retention < 0:
		return fmt.Errorf("worker: retention %s is negative", c.Retention)
	case c.InlineTime < 0:
		return fmt.Errorf("worker: inline time %s is negative", c.InlineTime)
	case c.PollInterval < time.Millisecond:
		return fmt.Errorf("worker: poll interval %s shorter than 1ms", c.PollInterval)
	case c.MaxResult < 0:
		return fmt.Errorf("worker: max result %d is negative", c.MaxResult)
	}
	seen := map[string]bool{}
	for _, q := range c.Queues {
		if err := jobs.ValidateQueue(q); err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		if seen[q] {
			return fmt.Errorf("worker: queue %q named twice", q)
		}
		seen[q] = true
	}
	for q, n := range c.Priorities {
		if !seen[q] || n < 1 {
			return fmt.Errorf("worker: priority %s:%d: want a served queue and a weight of 1 or more", q, n)
		}
	}
	return nil
}

// shutdownMargin is the time between the end of the grace period, when
// Stop cancels session jobs and hands them back, and asynq's requeue of
// plain jobs still running.
const shutdownMargin = 500 * time.Millisecond

// DefaultRetryDelay waits 1s before the first retry, doubling up to 5m,
// with 20% jitter.
func DefaultRetryDelay(n int, _ error) time.Duration {
	d := time.Duration(float64(time.Second) * math.Pow(2, float64(max(n-1, 0))))
	d = min(d, 5*time.Minute)
	return d + time.Duration(mrand.Float64()*0.2*float64(d))
}

// Worker runs jobs. Register handlers, then Start; Stop ends it gracefully.
type Worker struct {
	cfg      Config
	rdb      redis.UniversalClient
	led      *ledger.Ledger
	aq       *asynq.Client
	srv      *asynq.Server
	log      *slog.Logger
	queues   string // ",q1,q2,"
	handlers map[string]Handler
	m        *metrics

	active atomic.Int64 // tasks being processed: occupied slots

	mu       sync.Mutex
	started  bool
	stopped  bool
	stopping atomic.Bool
	running  map[*runState]struct{}
	done     chan struct{}
}

type runState struct {
	cancel context.CancelCauseFunc
}

// New returns a Worker on rdb; rdb stays the caller's to close.
func New(rdb redis.UniversalClient, cfg Config) (*Worker, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(c.Registerer)
	if err != nil {
		return nil, err
	}
	return &Worker{
		m:        m,
		cfg:      c,
		rdb:      rdb,
		led:      ledger.New(rdb),
		aq:       asynq.NewClientFromRedisClient(rdb),
		log:      c.Logger.With("worker", c.ID),
		queues:   "," + strings.Join(c.Queues, ",") + ",",
		handlers: map[string]Handler{},
		running:  map[*runState]struct{}{},
	}, nil
}

// ID is the worker's ID.
func (w *Worker) ID() string { return w.cfg.ID }

// Handle registers h for jobs of type jobType. Call it before Start.
func (w *Worker) Handle(jobType string, h Handler) error {
	if err := jobs.ValidateType(jobType); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("worker: Handle after Start")
	}
	if _, dup := w.handlers[jobType]; dup {
		return fmt.Errorf("worker: a handler for job type %q is registered already", jobType)
	}
	w.handlers[jobType] = h
	return nil
}

// HandleFunc registers a function for jobs of type jobType.
func (w *Worker) HandleFunc(jobType string, f func(ctx context.Context, job *Job) error) error {
	return w.Handle(jobType, HandlerFunc(f))
}

// Start starts taking jobs. It returns once the worker runs; ctx is the base
// of every handler's context.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("worker: started twice")
	}
	if err := w.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("worker: reaching redis: %w", err)
	}
	qs := make(map[string]int, len(w.cfg.Queues))
	for _, q := range w.cfg.Queues {
		qs[q] = max(w.cfg.Priorities[q], 1)
	}
	base := context.WithoutCancel(ctx)
	w.srv = asynq.NewServerFromRedisClient(w.rdb, asynq.Config{
		Concurrency:              w.cfg.Concurrency,
		BaseContext:              func() context.Context { return base },
		TaskCheckInterval:        w.cfg.PollInterval,
		DelayedTaskCheckInterval: w.cfg.DelayedCheckInterval,
		Queues:                   qs,
		StrictPriority:           w.cfg.StrictPriority,
		// Session jobs still running at the end of the grace period are
		// cancelled and handed back by Stop; asynq requeues plain ones a
		// little later, when this runs out.
		ShutdownTimeout: w.cfg.ShutdownGrace + shutdownMargin,
		RetryDelayFunc:  w.carrierRetryDelay,
		Logger:          asynqLogger{w.log},
		LogLevel:        asynq.WarnLevel,
	})
	if err := w.srv.Start(asynq.HandlerFunc(w.process)); err != nil {
		return fmt.Errorf("worker: starting: %w", err)
	}
	w.started = true
	w.done = make(chan struct{})
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "queues", w.cfg.Queues)
	return nil
}

// carrierRetryDelay is asynq's retry delay: short for the task of a session
// job (only infrastructure failures reach asynq; the job's own retries are
// the ledger's), asynq's default for plain jobs.
func (w *Worker) carrierRetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if _, ok := t.Headers()[dispatch.HeaderJob]; ok {
		return time.Second
	}
	return w.cfg.RetryDelay(n, err)
}

// Stop stops taking jobs, lets running jobs finish within the grace period,
// then cancels the rest and hands them back so they run again elsewhere.
// It is safe to call twice, and before Start.
func (w *Worker) Stop() {
	w.mu.Lock()
	if !w.started || w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	w.mu.Unlock()
	w.stopping.Store(true)
	w.log.Info("worker stopping", "grace", w.cfg.ShutdownGrace)
	t := time.AfterFunc(w.cfg.ShutdownGrace, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for r := range w.running {
			r.cancel(ErrShuttingDown)
		}
	})
	defer t.Stop()
	w.srv.Shutdown()
	close(w.done)
	w.log.Info("worker stopped")
}

func (w *Worker) track(cancel context.CancelCauseFunc) *runState {
	r := &runState{cancel: cancel}
	w.mu.Lock()
	w.running[r] = struct{}{}
	w.mu.Unlock()
	return r
}

func (w *Worker) untrack(r *runState) {
	w.mu.Lock()
	delete(w.running, r)
	w.mu.Unlock()
}

// maxChain bounds a run of one session's jobs in one slot even while other
// slots are free, far below the asynq deadline of the carrier task.
const maxChain = time.Hour

// process is the asynq handler of every task.
func (w *Worker) process(ctx context.Context, t *asynq.Task) error {
	w.active.Add(1)
	defer w.active.Add(-1)
	c, isSession, err := dispatch.FromTask(t)
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if !isSession {
		return w.processPlain(ctx, t)
	}
	res, err := w.led.Acquire(ctx, c.Session, c.Job, c.Gen, w.cfg.ID, w.cfg.Lease)
	if err != nil {
		return fmt.Errorf("acquiring session lease: %w", err)
	}
	if res.Verdict != ledger.OK {
		w.m.dropped.WithLabelValues(res.Verdict).Inc()
		w.log.Debug("dropping task", "job", c.Job, "session", c.Session, "gen", c.Gen, "verdict", res.Verdict)
		return nil
	}
	w.runChain(ctx, res.Job)
	return nil
}

func (w *Worker) processPlain(ctx context.Context, t *asynq.Task) error {
	id, _ := asynq.GetTaskID(ctx)
	q, _ := asynq.GetQueueName(ctx)
	n, _ := asynq.GetRetryCount(ctx)
	m, _ := asynq.GetMaxRetry(ctx)
	job := &Job{ID: id, Type: t.Type(), Payload: t.Payload(), Queue: q, Attempt: n + 1, MaxRetry: m}
	h := w.handlers[t.Type()]
	if h == nil {
		// Retried like any failure: in a fleet where workers handle
		// different types, another worker may handle it.
		return fmt.Errorf("no handler for job type %q on worker %s", t.Type(), w.cfg.ID)
	}
	w.m.started.WithLabelValues(job.Type, "plain").Inc()
	w.m.running.Inc()
	t0 := time.Now()
	err := call(withJob(ctx, job), h, job)
	w.m.running.Dec()
	w.m.duration.WithLabelValues(job.Type).Observe(time.Since(t0).Seconds())
	switch {
	case err == nil:
		w.m.finished.WithLabelValues(job.Type, ledger.StateSucceeded).Inc()
	case errors.Is(err, ErrSkipRetry) || n >= m:
		w.m.finished.WithLabelValues(job.Type, ledger.StateFailed).Inc()
	default:
		w.m.finished.WithLabelValues(job.Type, ledger.Retry).Inc()
	}
	if err != nil {
		if errors.Is(err, ErrSkipRetry) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	}
	if r := job.result; len(r) > 0 {
		if len(r) > w.cfg.MaxResult {
			r = r[:w.cfg.MaxResult]
		}
		if _, err := t.ResultWriter().Write(r); err != nil {
			w.log.Warn("writing result", "job", id, "err", err)
		}
	}
	return nil
}

// call runs a handler, turning a panic into an error (retried like any).
func call(ctx context.Context, h Handler, job *Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h.Process(ctx, job)
}

// maxErrorText caps the error text kept with a failed job.
const maxErrorText = 4 << 10

// errorText is err's text, cut to maxErrorText bytes.
func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "... (cut)"
	}
	return s
}

// ending is how one run of a session job ended.
type ending int

const (
	endDone     ending = iota // succeeded or failed: finish it
	endLost                   // the lease was lost: someone else moves on
	endHandBack               // shutting down: give it back
)

// runChain runs a session job whose lease this worker holds, then, while the
// affinity budget lasts, the jobs of the session that follow it.
func (w *Worker) runChain(ctx context.Context, rj *ledger.RunJob) {
	start := time.Now()
	for n := 1; rj != nil; n++ {
		out, how := w.runOne(ctx, rj)
		switch how {
		case endLost:
			w.m.lost.Inc()
			w.log.Warn("session lease lost; job abandoned to its new holder", "job", rj.ID, "session", rj.Session, "token", rj.Token)
			return
		case endHandBack:
			w.m.handback.Inc()
			w.handBack(ctx, rj)
			return
		}
		// Keep the session in this slot while the fairness budget lasts, or
		// while another slot is free: then nothing is waiting for this one,
		// and a trip through the queue would only add latency.
		elapsed := time.Since(start)
		withinBudget := n < w.cfg.InlineBudget && elapsed < w.cfg.InlineTime
		slotFree := w.active.Load() < int64(w.cfg.Concurrency) && elapsed < maxChain
		inline := w.cfg.InlineBudget > 0 && (withinBudget || slotFree) && !w.stopping.Load() && ctx.Err() == nil
		fr, err := w.finish(ctx, rj, out, inline)
		if err != nil {
			// The outcome could not be recorded: the lease runs out and the
			// reconciler dispatches the job again (at least once).
			w.log.Error("recording job outcome", "job", rj.ID, "session", rj.Session, "err", err)
			return
		}
		w.m.finished.WithLabelValues(rj.Type, fr.This).Inc()
		switch fr.This {
		case ledger.Stale:
			w.log.Warn("job outcome refused: stale fencing token", "job", rj.ID, "session", rj.Session, "token", rj.Token)
			return
		case ledger.Retry:
			w.enqueue(ctx, fr.Retry)
			return
		case ledger.StateFailed:
			w.rdb.ZAdd(context.WithoutCancel(ctx), keys.Dead, redis.Z{Score: float64(time.Now().UnixMilli()), Member: rj.Session + "/" + rj.ID})
		}
		switch fr.Next {
		case ledger.Run:
			w.m.inline.Inc()
			rj = fr.Run
		case ledger.Enqueue:
			w.enqueue(ctx, fr.Task)
			rj = nil
		default:
			rj = nil
		}
	}
}

// finish records the outcome, retrying a failing Redis while the lease lasts.
func (w *Worker) finish(ctx context.Context, rj *ledger.RunJob, out ledger.Outcome, inline bool) (ledger.FinishResult, error) {
	opt := ledger.FinishOptions{Worker: w.cfg.ID, Lease: w.cfg.Lease, Retention: w.cfg.Retention, Inline: inline, Queues: w.queues}
	ctx = context.WithoutCancel(ctx)
	deadline := time.Now().Add(w.cfg.Lease)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		fr, err := w.led.Finish(ctx, rj.Session, rj.ID, rj.Token, out, opt)
		if err == nil || errors.Is(err, ledger.ErrUnexpectedReply) || time.Now().Add(wait).After(deadline) {
			return fr, err
		}
		time.Sleep(wait)
	}
}

func (w *Worker) enqueue(ctx context.Context, t *ledger.Task) {
	if err := dispatch.Enqueue(context.WithoutCancel(ctx), w.aq, t); err != nil {
		// The ledger has the job pending: the reconciler dispatches it.
		w.log.Error("dispatching next job; the reconciler will repair", "job", t.ID, "session", t.Session, "err", err)
	}
}

func (w *Worker) handBack(ctx context.Context, rj *ledger.RunJob) {
	ctx = context.WithoutCancel(ctx)
	t, err := w.led.Release(ctx, rj.Session, rj.ID, rj.Token)
	if err != nil {
		w.log.Error("handing back job; its lease will expire", "job", rj.ID, "err", err)
		return
	}
	if t != nil {
		w.enqueue(ctx, t)
		w.log.Info("job handed back", "job", rj.ID, "session", rj.Session)
	}
}

// runOne runs one job under its lease and says how it ended.
func (w *Worker) runOne(ctx context.Context, rj *ledger.RunJob) (ledger.Outcome, ending) {
	job := &Job{
		ID: rj.ID, Type: rj.Type, Payload: rj.Payload, Queue: rj.Queue, SessionID: rj.Session,
		AppID: rj.AppID, Active: rj.Active, Seq: rj.Seq, Backlog: rj.Backlog, Attempt: int(rj.Attempt),
		MaxRetry: int(rj.MaxRetry), FencingToken: rj.Token, OutOfSession: rj.OutOfSess,
	}
	if rj.Attempt > rj.MaxRetry+1 {
		return ledger.Outcome{Final: true, Text: fmt.Sprintf("attempts exhausted (%d runs, the last ones lost with their worker)", rj.Attempt-1)}, endDone
	}
	h := w.handlers[rj.Type]
	if h == nil {
		// Retried like any failure: in a fleet where workers handle
		// different types, another worker may handle it.
		err := fmt.Errorf("no handler for job type %q on worker %s", rj.Type, w.cfg.ID)
		return ledger.Outcome{Text: err.Error(), RetryDelay: w.cfg.RetryDelay(int(rj.Attempt), err)}, endDone
	}
	w.m.started.WithLabelValues(rj.Type, "session").Inc()
	w.m.running.Inc()
	defer w.m.running.Dec()
	t0 := time.Now()
	defer func() { w.m.duration.WithLabelValues(rj.Type).Observe(time.Since(t0).Seconds()) }()
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := w.track(cancel)
	defer w.untrack(r)
	stopRenew := w.renew(jctx, rj, cancel)
	hctx := jctx
	var att Attachment
	if w.cfg.Attacher != nil {
		actx, a, err := w.cfg.Attacher.Attach(jctx, job)
		if err != nil {
			stopRenew()
			err = fmt.Errorf("attaching session: %w", err)
			return ledger.Outcome{Text: errorText(err), Final: errors.Is(err, ErrSkipRetry), RetryDelay: w.cfg.RetryDelay(int(rj.Attempt), err)}, endDone
		}
		defer a.Close()
		hctx, att = actx, a
		job.env = a.Env()
	}
	if rj.Timeout > 0 {
		var c context.CancelFunc
		hctx, c = context.WithTimeoutCause(hctx, rj.Timeout, fmt.Errorf("job timed out after %s", rj.Timeout))
		defer c()
	}
	err := call(withJob(hctx, job), h, job)
	if err == nil && att != nil {
		if cerr := att.Commit(jctx); cerr != nil {
			if errors.Is(cerr, ErrLeaseLost) {
				cancel(ErrLeaseLost)
			}
			err = fmt.Errorf("committing session changes: %w", cerr)
		}
	}
	stopRenew()
	switch cause := context.Cause(jctx); {
	case errors.Is(cause, ErrLeaseLost):
		return ledger.Outcome{}, endLost
	case errors.Is(cause, ErrShuttingDown):
		return ledger.Outcome{}, endHandBack
	case errors.Is(cause, ErrCancelled):
		return ledger.Outcome{Cancelled: true, Text: "cancelled while running"}, endDone
	}
	if err == nil {
		res := job.result
		if len(res) > w.cfg.MaxResult {
			res = res[:w.cfg.MaxResult]
		}
		return ledger.Outcome{OK: true, Text: string(res)}, endDone
	}
	if c := context.Cause(hctx); c != nil && hctx.Err() != nil && ctx.Err() == nil && !errors.Is(err, c) {
		err = fmt.Errorf("%w (%w)", err, c)
	}
	return ledger.Outcome{
		Text:       errorText(err),
		Final:      errors.Is(err, ErrSkipRetry),
		RetryDelay: w.cfg.RetryDelay(int(rj.Attempt), err),
	}, endDone
}

// renew keeps the lease of rj while its handler runs. It cancels the
// handler's context with ErrLeaseLost when the lease is refused, or when it
// could not be renewed for a whole lease period, and with ErrCancelled when
// the job was asked to cancel. It runs on a timer, not a goroutine of its
// own, so a job shorter than a third of the lease costs no renewal at all.
// stop waits for a renewal under way.
func (w *Worker) renew(ctx context.Context, rj *ledger.RunJob, cancel context.CancelCauseFunc) (stop func()) {
	every := w.cfg.Lease / 3
	var (
		mu      sync.Mutex
		pending sync.WaitGroup // a scheduled or running renewal
		stopped bool
		timer   *time.Timer
		lastOK  = time.Now()
	)
	fire := func() {
		defer pending.Done()
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		mu.Unlock()
		rctx, c := context.WithTimeout(context.WithoutCancel(ctx), every)
		r, err := w.led.Renew(rctx, rj.Session, rj.ID, rj.Token, w.cfg.Lease)
		c()
		switch {
		case err == nil && r == ledger.CancelRequested:
			cancel(ErrCancelled)
			return
		case err == nil && r == ledger.LeaseRenewed:
			lastOK = time.Now()
		case err == nil:
			cancel(ErrLeaseLost)
			return
		case time.Since(lastOK) >= w.cfg.Lease-every/2:
			w.log.Error("session lease not renewed in time", "job", rj.ID, "session", rj.Session, "err", err)
			cancel(ErrLeaseLost)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			pending.Add(1)
			timer.Reset(every)
		}
	}
	mu.Lock()
	pending.Add(1)
	timer = time.AfterFunc(every, fire)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		if timer.Stop() {
			pending.Done() // the scheduled renewal will not run
		}
		mu.Unlock()
		pending.Wait()
	}
}

// asynqLogger sends asynq's logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)); os.Exit(1) }
