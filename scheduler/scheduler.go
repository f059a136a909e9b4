// Package scheduler runs sessionq's singleton maintenance under a
// leadership lease, so that any number of candidates may run and exactly one
// works at a time: the reconciler, which repairs sessions that cannot move on
// by themselves, and any extra periodic tasks (such as the session table's
// expiry sweep). Every worker is a candidate (worker.Config), so a fleet of
// workers needs no other process; `sessionq scheduler` runs a candidate on
// its own, for fleets that want one.
//
// The reconciler reads the repair index (internal/keys/repair.go): the
// sessions with unfinished work, each due when something could have gone
// wrong with it (its lease runs out, its dispatch is DispatchGrace old). A
// pass looks only at entries that are due, at most PassLimit of them and
// for PassBudget at most, so its cost grows with the sessions that need a
// look, not with the sessions in Redis. A full SCAN of the keyspace puts
// back any session the index misses, every FullScanEvery (minutes).
//
// Repair time is bounded: a session whose lease holder died is repaired
// within Lease (the worker's lease) + Interval; one whose dispatch was lost
// within DispatchGrace + Interval; add up to LeaderTerm when the leader
// itself died. A pass that stops at its limit leaves the rest due for the
// next one.
//
// # Leadership
//
// The leader claims its lease before each pass and again before the tasks,
// so claims are never more than max(Interval, PassBudget, the tasks' own
// time) apart; LeaderTerm must be at least twice Interval and PassBudget,
// and defaults to 3*Interval + 2*PassBudget, so that leadership cannot lapse
// between two claims of a live leader. A leader that dies is replaced
// within LeaderTerm.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/ident"
	"github.com/sessionq/sessionq/internal/leadership"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/startstop"
)

// Defaults of Config.
const (
	DefaultName          = "maintenance"
	DefaultInterval      = 2 * time.Second
	DefaultDispatchGrace = ledger.DispatchGrace
	DefaultPassLimit     = 5000
	DefaultFullScanEvery = 5 * time.Minute
	DefaultDeadRetention = 7 * 24 * time.Hour
)

// minPassBudget is the least default pass budget: a short interval does not
// make a pass give up before it has read the index on a loaded machine.
const minPassBudget = 250 * time.Millisecond

// Config configures a Scheduler. Zero values take the defaults named.
type Config struct {
	// ID names this scheduler as a leadership candidate. Default host-pid-random.
	ID string
	// Name is the leadership every candidate of one fleet shares: workers
	// and `sessionq scheduler` processes elect one leader among them.
	// Default DefaultName ("maintenance").
	Name string
	// Interval is the time between reconciler passes. Default 2s.
	Interval time.Duration
	// DispatchGrace is how long a dispatched job may lack an asynq task
	// before it is dispatched again. Default 5s (ledger.DispatchGrace).
	DispatchGrace time.Duration
	// LeaderTerm is the leadership lease: at least 2*Interval and
	// 2*PassBudget. Default 3*Interval + 2*PassBudget.
	LeaderTerm time.Duration
	// PassLimit is the most sessions one pass looks at. Default 5000.
	PassLimit int
	// PassBudget is the most time one pass takes; what is left stays due
	// for the next. Default Interval/2, and at least 250ms unless
	// LeaderTerm/2 is less.
	PassBudget time.Duration
	// FullScanEvery is the time between full scans of the keyspace that put
	// back into the repair index any session it misses (a safety net: an
	// index write lost with its Redis node). Negative: never. Default 5m.
	FullScanEvery time.Duration
	// ScanCount is the SCAN batch size of the full scan. Default 1000.
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
	// Periodic are jobs submitted on a schedule (see Periodic), checked
	// every Interval. They have a leadership of their own, Name +
	// "-periodic", among the schedulers that have periodic jobs: workers
	// lead the maintenance as often as not, and know no periodic jobs.
	// Default none.
	Periodic []Periodic
}

// Task is periodic singleton work run by the leader. Run should bound its
// own time (well under LeaderTerm).
type Task struct {
	Name string
	Run  func(ctx context.Context) error
}

func (c Config) withDefaults() (Config, error) {
	if c.ID == "" {
		c.ID = ident.New()
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.DispatchGrace == 0 {
		c.DispatchGrace = DefaultDispatchGrace
	}
	if c.PassLimit == 0 {
		c.PassLimit = DefaultPassLimit
	}
	if c.PassBudget == 0 {
		c.PassBudget = max(c.Interval/2, minPassBudget)
		if c.LeaderTerm > 0 {
			c.PassBudget = max(c.Interval/2, min(c.PassBudget, c.LeaderTerm/2))
		}
	}
	if c.LeaderTerm == 0 {
		c.LeaderTerm = 3*c.Interval + 2*c.PassBudget
	}
	if c.FullScanEvery == 0 {
		c.FullScanEvery = DefaultFullScanEvery
	}
	if c.ScanCount == 0 {
		c.ScanCount = 1000
	}
	if c.DeadRetention == 0 {
		c.DeadRetention = DefaultDeadRetention
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Interval < 10*time.Millisecond:
		return c, fmt.Errorf("scheduler: interval %s shorter than 10ms", c.Interval)
	case c.DispatchGrace < 0:
		return c, fmt.Errorf("scheduler: dispatch grace %s is negative", c.DispatchGrace)
	case c.PassLimit < 1:
		return c, fmt.Errorf("scheduler: pass limit %d below 1", c.PassLimit)
	case c.PassBudget < time.Millisecond:
		return c, fmt.Errorf("scheduler: pass budget %s shorter than 1ms", c.PassBudget)
	case c.LeaderTerm < 2*c.Interval || c.LeaderTerm < 2*c.PassBudget:
		return c, fmt.Errorf("scheduler: leader term %s too short: it must be at least twice the interval (%s) and the pass budget (%s), or leadership lapses between claims", c.LeaderTerm, c.Interval, c.PassBudget)
	case c.ScanCount < 1:
		return c, fmt.Errorf("scheduler: scan count %d below 1", c.ScanCount)
	}
	if err := validateName(c.Name); err != nil {
		return c, err
	}
	return c, nil
}

func validateName(n string) error {
	for i := 0; i < len(n); i++ {
		if c := n[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("scheduler: name %q: only a-z, 0-9, - and _", n)
		}
	}
	return nil
}

// Scheduler is the leader-elected background service.
type Scheduler struct {
	cfg   Config
	rdb   redis.UniversalClient
	elect *leadership.Elector
	// periodic and its own leadership, when there are periodic jobs
	periodic *periodicRunner
	pelect   *leadership.Elector
	rec      *reconciler
	log      *slog.Logger
	m        *metrics

	leading atomic.Bool

	startstop.Base
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
	var periodic *periodicRunner
	if len(c.Periodic) > 0 {
		if periodic, err = newPeriodicRunner(rdb, c.Periodic, c.Interval, log); err != nil {
			return nil, err
		}
	}
	s := &Scheduler{
		periodic: periodic,
		m:        m,
		cfg:      c,
		rdb:      rdb,
		elect:    leadership.New(rdb, c.Name, c.ID, c.LeaderTerm),
		pelect:   leadership.New(rdb, c.Name+"-periodic", c.ID, c.LeaderTerm),
		log:      log,
	}
	s.rec = &reconciler{
		rdb: rdb, led: ledger.New(rdb), aq: asynq.NewClientFromRedisClient(rdb),
		insp: asynq.NewInspectorFromRedisClient(rdb), cfg: &s.cfg, log: log, m: m, now: time.Now,
	}
	return s, nil
}

// Reconcile runs one reconciler pass now, leader or not. Repairs are
// compare-and-set, so running it beside the leader is safe.
func (s *Scheduler) Reconcile(ctx context.Context) (Report, error) { return s.rec.pass(ctx) }

// Start runs the scheduler in the background until Stop or ctx ends. Start
// after Stop, or twice, is an error.
func (s *Scheduler) Start(ctx context.Context) error {
	err := s.StartWith(ctx, func(ctx context.Context) (func(), error) {
		if err := s.rdb.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("reaching redis: %w", err)
		}
		return func() { s.loop(ctx) }, nil
	})
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s.log.Info("scheduler started", "name", s.cfg.Name, "interval", s.cfg.Interval, "leader_term", s.cfg.LeaderTerm)
	return nil
}

// Stop stops the scheduler and resigns leadership; it returns when both are
// done. It is safe to call twice, concurrently, and before Start.
func (s *Scheduler) Stop() { s.Base.Stop() }

// Leading reports whether this scheduler led at its last claim.
func (s *Scheduler) Leading() bool { return s.leading.Load() }

func (s *Scheduler) loop(ctx context.Context) {
	defer func() {
		s.leading.Store(false)
		s.m.leader.Set(0)
		rctx, c := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer c()
		_ = s.elect.Resign(rctx)
		if s.periodic != nil {
			_ = s.pelect.Resign(rctx)
		}
	}()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if s.claim(ctx) {
			t0 := time.Now()
			rep, err := s.rec.pass(ctx)
			s.m.passSeconds.Observe(time.Since(t0).Seconds())
			s.m.pending.Set(float64(rep.Indexed))
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Error("reconciler pass", "err", err)
			case rep.Repaired > 0 || rep.Errors > 0 || rep.More && rep.Looked > 0:
				s.log.Info("reconciler pass", "looked_at", rep.Looked, "repaired", rep.Repaired, "errors", rep.Errors, "more_due", rep.More)
			}
			if len(s.cfg.Tasks) > 0 && s.claim(ctx) {
				for _, task := range s.cfg.Tasks {
					if err := task.Run(ctx); err != nil && ctx.Err() == nil {
						s.log.Error("scheduled task", "task", task.Name, "err", err)
					}
				}
			}
		}
		if s.periodic != nil {
			lead, err := s.pelect.Claim(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Error("claiming periodic leadership", "err", err)
			}
			if lead && err == nil {
				if err := s.periodic.run(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("periodic jobs", "err", err)
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

// claim takes or renews leadership and reports whether this candidate leads.
func (s *Scheduler) claim(ctx context.Context) bool {
	lead, err := s.elect.Claim(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("claiming leadership", "err", err)
	}
	lead = lead && err == nil
	if was := s.leading.Swap(lead); was != lead {
		s.log.Info("leadership changed", "leading", lead)
	}
	s.m.leader.Set(b2f(lead))
	return lead
}
