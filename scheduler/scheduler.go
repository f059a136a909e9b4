// Package scheduler runs sessionq's singleton background work under a
// leadership lease, so that any number of schedulers may run and exactly one
// works at a time: the reconciler, which repairs sessions that cannot move on
// by themselves, and any extra periodic tasks (such as the session table's
// expiry sweep).
//
// Repair time is bounded: a session whose lease holder died is repaired
// within Lease (the worker's lease) + Interval; one whose dispatch was lost
// within DispatchGrace + Interval; add up to LeaderTerm when the leading
// scheduler itself died.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/ident"
	"github.com/sessionq/sessionq/internal/leadership"
	"github.com/sessionq/sessionq/internal/ledger"
)

// Config configures a Scheduler. Zero values take the defaults named.
type Config struct {
	// ID names this scheduler as a leadership candidate. Default host-pid-random.
	ID string
	// Interval is the time between reconciler passes. Default 2s.
	Interval time.Duration
	// DispatchGrace is how long a dispatched job may lack an asynq task
	// before it is dispatched again. Default 5s.
	DispatchGrace time.Duration
	// LeaderTerm is the leadership lease. Default 15s.
	LeaderTerm time.Duration
	// ScanCount is the SCAN batch size. Default 1000.
	ScanCount int
	// DeadRetention is how long an entry stays in the dead-letter index of
	// session jobs. Default 7 days.
	DeadRetention time.Duration
	// Logger receives the scheduler's logs. Default slog.Default().
	Logger *slog.Logger
	// Tasks are extra periodic tasks run by the leader after each pass.
	Tasks []Task
	// Registerer receives the scheduler's Prometheus metrics
	// (sessionq_reconciler_*, sessionq_scheduler_leader). Default none.
	Registerer prometheus.Registerer
	// Periodic are jobs the leader submits on a schedule (see Periodic),
	// checked after each reconciler pass. Default none.
	Periodic []Periodic
}

// Task is periodic singleton work run by the leading scheduler.
type Task struct {
	Name string
	Run  func(ctx context.Context) error
}

func (c Config) withDefaults() (Config, error) {
	if c.ID == "" {
		c.ID = ident.New()
	}
	if c.Interval == 0 {
		c.Interval = 2 * time.Second
	}
	if c.DispatchGrace == 0 {
		c.DispatchGrace = 5 * time.Second
	}
	if c.LeaderTerm == 0 {
		c.LeaderTerm = 15 * time.Second
	}
	if c.ScanCount == 0 {
		c.ScanCount = 1000
	}
	if c.DeadRetention == 0 {
		c.DeadRetention = 7 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Interval < 10*time.Millisecond:
		return c, fmt.Errorf("scheduler: interval %s shorter than 10ms", c.Interval)
	case c.DispatchGrace < 0:
		return c, fmt.Errorf("scheduler: dispatch grace %s is negative", c.DispatchGrace)
	case c.LeaderTerm < 3*c.Interval && c.LeaderTerm < time.Second:
		return c, fmt.Errorf("scheduler: leader term %s too short for interval %s", c.LeaderTerm, c.Interval)
	case c.ScanCount < 1:
		return c, fmt.Errorf("scheduler: scan count %d below 1", c.ScanCount)
	}
	return c, nil
}

// Scheduler is the leader-elected background service.
type Scheduler struct {
	cfg   Config
	rdb   redis.UniversalClient
	elect *leadership.Elector
	rec   *reconciler
	log   *slog.Logger
	m     *metrics

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	started bool
}

// New returns a Scheduler on rdb; rdb stays the caller's to close.
func New(rdb redis.UniversalClient, cfg Config) (*Scheduler, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := c.Logger.With("scheduler", c.ID)
	m, err := newMetrics(c.Registerer)
	if err != nil {
		return nil, err
	}
	if len(c.Periodic) > 0 {
		pr, err := newPeriodicRunner(rdb, c.Periodic, c.Interval, log)
		if err != nil {
			return nil, err
		}
		c.Tasks = append([]Task{pr.task()}, c.Tasks...)
	}
	s := &Scheduler{
		m:     m,
		cfg:   c,
		rdb:   rdb,
		elect: leadership.New(rdb, "scheduler", c.ID, c.LeaderTerm),
		log:   log,
	}
	s.rec = &reconciler{
		rdb: rdb, led: ledger.New(rdb), aq: asynq.NewClientFromRedisClient(rdb),
		insp: asynq.NewInspectorFromRedisClient(rdb), cfg: &s.cfg, log: log, m: m,
	}
	return s, nil
}

// Reconcile runs one reconciler pass now, leader or not. Repairs are
// compare-and-set, so running it beside the leader is safe.
func (s *Scheduler) Reconcile(ctx context.Context) (Report, error) { return s.rec.pass(ctx) }

// Start runs the scheduler in the background until Stop or ctx ends.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("scheduler: started twice")
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("scheduler: reaching redis: %w", err)
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	s.started = true
	go s.loop(ctx)
	s.log.Info("scheduler started", "interval", s.cfg.Interval, "dispatch_grace", s.cfg.DispatchGrace)
	return nil
}

// Stop stops the scheduler and resigns leadership. It is safe to call
// twice, and before Start.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (s *Scheduler) loop(ctx context.Context) {
	defer close(s.done)
	defer func() {
		rctx, c := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer c()
		_ = s.elect.Resign(rctx)
	}()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	leading := false
	for {
		lead, err := s.elect.Claim(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("claiming leadership", "err", err)
		case lead != leading:
			s.log.Info("leadership changed", "leading", lead)
		}
		leading = lead && err == nil
		s.m.leader.Set(b2f(leading))
		if leading {
			rep, err := s.rec.pass(ctx)
			if err == nil {
				s.m.pending.Set(float64(rep.Sessions))
			}
			if err != nil && ctx.Err() == nil {
				s.log.Error("reconciler pass", "err", err)
			} else if rep.Repaired > 0 {
				s.log.Info("reconciler pass", "sessions", rep.Sessions, "repaired", rep.Repaired)
			}
			for _, task := range s.cfg.Tasks {
				if err := task.Run(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("scheduled task", "task", task.Name, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
