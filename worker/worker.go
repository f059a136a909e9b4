// Package worker runs sessionq jobs: a process with N slots that takes jobs
// from asynq queues, holds a per-session lease with a fencing token while a
// session job runs, renews it, and moves the session on when the job ends.
//
// A job whose session is busy is never waited for in a slot: it stays
// parked in Redis and is dispatched when its turn comes. When a job ends and
// the next job of its session is already parked, the slot keeps the lease
// and runs it at once (session affinity), up to a fairness budget, then
// hands the session back to the queue.
//
// A fleet of workers heals itself: every worker takes part in an election
// (package scheduler) and, while it leads, repairs sessions whose lease
// holder died or whose dispatch was lost, and runs the maintenance tasks it
// was given (the session table's expiry sweep). No other kind of process is
// needed. A worker that cannot renew a lease stops that job's run before the
// lease can run out anywhere (see Config.Lease).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/ident"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/presence"
	"github.com/sessionq/sessionq/internal/startstop"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
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
	// Lease is the session lease duration. It is renewed every Lease/3
	// while a job runs (a failed renewal is retried sooner); when no
	// renewal has succeeded for long enough that the lease could run out,
	// the job's context is cancelled with ErrLeaseLost (an exec command is
	// killed) at the send time of the last good renewal plus Lease less
	// Lease/5, so that the run has stopped before another worker can take
	// the lease over. Default 10s.
	Lease time.Duration
	// ShutdownGrace is how long Stop lets running jobs finish before it
	// cancels them and hands them back. Default 10s.
	ShutdownGrace time.Duration
	// Retention is how long a finished session job stays readable. Default 24h.
	Retention time.Duration
	// InlineBudget is how many jobs of one session a slot runs back to back
	// before it hands the session to the queue, when every slot of the
	// worker is busy (with a slot free, nothing waits for this one, and it
	// goes on, for an hour at most). Up to half of the slots (Concurrency/2)
	// may keep their session past the budget all the same, so that a long
	// session is not sent to the back of a long queue again and again while
	// the other half of the slots serves the queue. Default 64; negative
	// disables session affinity.
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
	// ExecStderrLog is the level at which the worker logs the stderr of a
	// failed exec command (its last ExecStderrLogMax bytes), in a line of
	// its own: "off", "debug", "info", "warn" or "error". The line that
	// logs the failure never holds it, since it may hold payload text; the
	// job's own error (what its owner reads) keeps the whole tail.
	// Default "debug".
	ExecStderrLog string
	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
	// Attacher gives session jobs their session's files and parameters.
	// Default none.
	Attacher Attacher
	// Registerer receives the worker's Prometheus metrics
	// (sessionq_jobs_*, sessionq_leases_lost_total, ...) and those of its
	// maintenance (sessionq_reconciler_*, ...). Default none.
	Registerer prometheus.Registerer
	// NoBatching sends each ledger call of the worker (lease taken, outcome
	// recorded, lease renewed, progress) in a round trip of its own. By
	// default the calls that the worker's slots make at about the same time
	// go to Redis in one pipeline, never held on a timer: a call waits for
	// at most one round trip in flight (see BatchInFlight). Each call stays
	// one script, atomic, fenced, and failing alone.
	NoBatching bool
	// BatchInFlight is the most ledger pipelines the worker has in flight
	// at once. Default 2.
	BatchInFlight int
	// NoMaintenance keeps this worker out of the maintenance election: it
	// never repairs sessions nor runs maintenance tasks. Default false:
	// every worker takes part, one leads at a time, and a fleet of workers
	// needs no other process to recover from crashes.
	NoMaintenance bool
	// HandlerWait is how long a job whose type no live worker handles
	// waits between looks (a worker takes its task, sees that no live
	// worker has a handler for it, and hands it back unopened): it bounds
	// how soon such a job starts once a worker that handles it joins,
	// together with DelayedCheckInterval. Default 2s (DefaultHandlerWait).
	HandlerWait time.Duration
	// PresenceTTL is how long the job types this worker handles stay
	// published (package presence) without a heartbeat: how long producers
	// and other workers count a worker that died without a word as live.
	// A worker that stops withdraws them at once. Default 15s.
	PresenceTTL time.Duration
	// Maintenance configures this worker's part in the election (package
	// scheduler): Interval is the time between repair passes of the leader
	// (default 2s), so a session whose lease holder died is repaired within
	// Lease + Interval, plus the leader term when the dead worker led; Tasks
	// are more periodic singleton tasks, such as the session table's expiry
	// sweep (scheduler.Task{Name: "session-sweep", Run: sweeper.Run}). Its
	// ID, Logger and Registerer default to the worker's.
	Maintenance scheduler.Config
}

// Defaults of Config, which the command line's configuration refers to.
const (
	DefaultConcurrency   = 10
	DefaultLease         = 10 * time.Second
	DefaultShutdownGrace = 10 * time.Second
	DefaultRetention     = jobs.DefaultRetention
)

func (c Config) withDefaults() (Config, error) {
	if c.ID == "" {
		c.ID = ident.New()
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if len(c.Queues) == 0 {
		c.Queues = []string{jobs.DefaultQueue}
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
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
	if c.ExecStderrLog == "" {
		c.ExecStderrLog = DefaultExecStderrLog
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HandlerWait == 0 {
		c.HandlerWait = DefaultHandlerWait
	}
	if c.PresenceTTL == 0 {
		c.PresenceTTL = presence.DefaultTTL
	}
	if c.Maintenance.ID == "" {
		c.Maintenance.ID = c.ID
	}
	if c.Maintenance.Logger == nil {
		c.Maintenance.Logger = c.Logger
	}
	if c.Maintenance.Registerer == nil {
		c.Maintenance.Registerer = c.Registerer
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
	case c.HandlerWait < 0:
		return fmt.Errorf("worker: handler wait %s is negative", c.HandlerWait)
	case c.PresenceTTL < 100*time.Millisecond:
		return fmt.Errorf("worker: presence ttl %s shorter than 100ms", c.PresenceTTL)
	case !validExecStderrLog(c.ExecStderrLog):
		return fmt.Errorf("worker: exec stderr log %q: want off, debug, info, warn or error", c.ExecStderrLog)
	case c.BatchInFlight < 0 || c.BatchInFlight > 64:
		return fmt.Errorf("worker: batch in flight %d out of range 0..64 (0: the default, 2)", c.BatchInFlight)
	case c.BatchInFlight > 0 && c.NoBatching:
		return fmt.Errorf("worker: batch in flight %d set with NoBatching", c.BatchInFlight)
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
	handlers map[string]Handler
	types    string // handledList: fixed at Start
	m        *metrics
	pres     *presence.Publisher

	maint  *scheduler.Scheduler // nil with NoMaintenance
	tidy   *tidier
	qwatch *queueWatch

	active     atomic.Int64 // tasks being processed: occupied slots
	overBudget atomic.Int64 // slots that keep a session past its inline budget

	startstop.Base
	mu       sync.Mutex
	started  bool // Start has begun: Handle is refused
	stopping atomic.Bool
	running  map[*runState]struct{}
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
	log := c.Logger.With("worker", c.ID)
	w := &Worker{
		m:        m,
		cfg:      c,
		rdb:      rdb,
		led:      ledger.New(rdb),
		aq:       asynq.NewClientFromRedisClient(rdb),
		log:      log,
		handlers: map[string]Handler{},
		running:  map[*runState]struct{}{},
	}
	if !c.NoBatching {
		w.led = w.led.Batched(ledger.BatchConfig{MaxInFlight: c.BatchInFlight})
	}
	w.tidy = newTidier(rdb, log)
	w.qwatch = newQueueWatch(rdb, c.Queues, c.DelayedCheckInterval, log)
	if !c.NoMaintenance {
		w.maint, err = scheduler.New(rdb, c.Maintenance)
		if err != nil {
			return nil, fmt.Errorf("worker: maintenance: %w", err)
		}
	}
	return w, nil
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

// Start starts taking jobs and returns once the worker runs. ctx is the
// base of every handler's context, and the worker's life: when ctx ends,
// the worker stops as by Stop. Start after Stop, or twice, is an error.
func (w *Worker) Start(ctx context.Context) error {
	if err := w.StartWith(ctx, w.start); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "queues", w.cfg.Queues, "maintenance", w.maint != nil)
	return nil
}

// start is Start's work under startstop.Base: ctx ends with Stop or with
// Start's ctx, and then the returned function stops the worker.
func (w *Worker) start(ctx context.Context) (func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("reaching redis: %w", err)
	}
	qs := make(map[string]int, len(w.cfg.Queues))
	for _, q := range w.cfg.Queues {
		qs[q] = max(w.cfg.Priorities[q], 1)
	}
	base := context.WithoutCancel(ctx)
	w.types = w.handledList()
	pres, err := presence.NewPublisher(w.rdb, w.cfg.ID, w.handlerTypes(), presence.Config{TTL: w.cfg.PresenceTTL, Logger: w.log})
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	// Published before the first task is taken: a worker that declines a
	// task reads who else handles it.
	if err := pres.Start(base); err != nil {
		return nil, fmt.Errorf("publishing the job types it handles: %w", err)
	}
	w.pres = pres
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

		// A task this worker has no handler for is handed back without
		// counting a failure (decline.go).
		IsFailure: isFailure,
	})
	if err := w.srv.Start(asynq.HandlerFunc(w.process)); err != nil {
		w.pres.Stop()
		return nil, fmt.Errorf("starting: %w", err)
	}
	if w.maint != nil {
		if err := w.maint.Start(base); err != nil {
			w.srv.Shutdown()
			w.pres.Stop()
			return nil, fmt.Errorf("starting maintenance: %w", err)
		}
	}
	// Neither fails: they start last, so that a failed Start leaves
	// nothing to undo in them.
	_ = w.tidy.Start(base)
	_ = w.qwatch.Start(base)
	w.started = true
	return func() {
		<-ctx.Done()
		w.shutdown()
	}, nil
}

// carrierRetryDelay is asynq's retry delay: short for the task of a session
// job (only infrastructure failures reach asynq; the job's own retries are
// the ledger's), asynq's default for plain jobs.
func (w *Worker) carrierRetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if d := (*declineError)(nil); errors.As(err, &d) {
		return d.delay
	}
	if _, ok := t.Headers()[dispatch.HeaderJob]; ok {
		return time.Second
	}
	return w.cfg.RetryDelay(n, err)
}

// Stop stops taking jobs, lets running jobs finish within the grace period,
// then cancels the rest and hands them back so they run again elsewhere,
// and leaves the maintenance election. It returns when all that is done. It
// is safe to call twice, concurrently, and before Start.
func (w *Worker) Stop() { w.Base.Stop() }

// shutdown is Stop's work, once the worker's context has ended.
func (w *Worker) shutdown() {
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
	// First: producers and other workers see at once that this
	// worker's types are no longer handled here.
	w.pres.Stop()
	if w.maint != nil {
		w.maint.Stop()
	}
	w.srv.Shutdown()
	w.tidy.Stop()
	w.qwatch.Stop()
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

// asynqLogger sends asynq's logs to slog. Fatal logs at error level and
// does not exit: library code never ends the process.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error("asynq fatal: " + fmt.Sprint(args...)) }
