package scheduler

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/validate"
	"github.com/sessionq/sessionq/jobs"
)

// DefaultCatchUp is the default Periodic.CatchUp.
const DefaultCatchUp = time.Minute

// Periodic is a job the leading scheduler submits on a schedule: at every
// tick of Spec (or Every), one job, never two, however many schedulers run
// and whichever leads.
//
// Each fire is submitted with an idempotency key made of Name, the schedule
// and the tick, so a tick submitted twice (by two leaders overlapping around
// a lost term, or by a leader that died before it recorded the fire) gives
// one job. The last tick handled is kept in Redis (keys.Periodic). Missed
// ticks (no leader for a while): when the scheduler looks, the latest tick
// that is due is fired once, late, if it is at most CatchUp old; every older
// missed tick is skipped (and logged). A periodic job seen for the first
// time fires from its next tick on.
type Periodic struct {
	// Name identifies the periodic job: 1 to 64 letters, digits, '.', '_'
	// or '-', unique. Required.
	Name string
	// Spec is a cron schedule: five fields (minute hour day-of-month month
	// day-of-week), six with a leading seconds field, or a descriptor
	// (@hourly, @daily, @every 10m). It is read in UTC unless it starts
	// with CRON_TZ=Area/City. Exactly one of Spec and Every is given.
	Spec string
	// Every fires at each multiple of Every since the Unix epoch, so that
	// Every: time.Hour fires on the hour. At least one second.
	Every time.Duration
	// Type, Payload, Session and Queue are the submitted job's (see
	// jobs.Client.Submit). Type is required; Session empty submits a job
	// without a session; Queue default "default".
	Type    string
	Payload []byte
	Session string
	Queue   string
	// CatchUp is how late a missed tick may still be fired. Default 1m; it
	// must be at least twice the scheduler's Interval, or a leader that is
	// merely slow would skip ticks.
	CatchUp time.Duration
}

// schedule gives the tick after a time.
type schedule interface{ Next(time.Time) time.Time }

// every is a schedule at the multiples of d since the Unix epoch.
type every time.Duration

func (e every) Next(t time.Time) time.Time {
	d := int64(e)
	n := t.UnixNano()
	k := n / d
	if n < 0 && n%d != 0 {
		k--
	}
	return time.Unix(0, (k+1)*d).UTC()
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// describe is the schedule as a user wrote it.
func (p Periodic) describe() string {
	if p.Spec != "" {
		return p.Spec
	}
	return "every " + p.Every.String()
}

// parse checks p and returns its schedule. @every specs become epoch-aligned
// intervals, so that every scheduler agrees on the ticks.
func (p Periodic) parse() (schedule, error) {
	if why := validate.Name(p.Name, 64, func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}); why != "" {
		return nil, fmt.Errorf("periodic job name %q: %s", validate.Cut(p.Name), why)
	}
	if err := jobs.ValidateType(p.Type); err != nil {
		return nil, fmt.Errorf("periodic job %s: %w", p.Name, err)
	}
	if p.Session != "" {
		if err := jobs.ValidateSessionID(p.Session); err != nil {
			return nil, fmt.Errorf("periodic job %s: %w", p.Name, err)
		}
	}
	if p.Queue != "" {
		if err := jobs.ValidateQueue(p.Queue); err != nil {
			return nil, fmt.Errorf("periodic job %s: %w", p.Name, err)
		}
	}
	if p.CatchUp < 0 {
		return nil, fmt.Errorf("periodic job %s: catch-up %s is negative", p.Name, p.CatchUp)
	}
	switch {
	case p.Spec != "" && p.Every != 0:
		return nil, fmt.Errorf("periodic job %s: give a cron spec or an interval, not both", p.Name)
	case p.Spec == "" && p.Every == 0:
		return nil, fmt.Errorf("periodic job %s: give a cron spec or an interval", p.Name)
	case p.Every != 0 && p.Every < time.Second:
		return nil, fmt.Errorf("periodic job %s: interval %s shorter than 1s", p.Name, p.Every)
	case p.Every != 0:
		return every(p.Every), nil
	}
	s, err := parseCron(p.Spec)
	if err != nil {
		return nil, fmt.Errorf("periodic job %s: cron spec %q: %w", p.Name, p.Spec, err)
	}
	if cd, ok := s.(cron.ConstantDelaySchedule); ok {
		return every(cd.Delay), nil
	}
	return s, nil
}

// parseCron parses a cron spec. robfig/cron panics on some malformed specs
// (such as "TZ=" alone): that is an error here, not a crash.
func parseCron(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("malformed (%v)", r)
		}
	}()
	return cronParser.Parse(spec)
}

// Validate checks p as New would.
func (p Periodic) Validate() error {
	_, err := p.parse()
	return err
}

var (
	//go:embed lua/periodic_mark.lua
	periodicMarkLua    string
	periodicMarkScript = redis.NewScript(periodicMarkLua)
)

// maxTickScan bounds the ticks looked at in one catch-up window.
const maxTickScan = 100000

type periodicEntry struct {
	p     Periodic
	sched schedule
}

// periodicRunner fires the periodic jobs; the leader runs it as a Task.
type periodicRunner struct {
	rdb     redis.UniversalClient
	jc      *jobs.Client
	entries []periodicEntry
	now     func() time.Time
	log     *slog.Logger
}

func newPeriodicRunner(rdb redis.UniversalClient, ps []Periodic, interval time.Duration, log *slog.Logger) (*periodicRunner, error) {
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	if err != nil {
		return nil, err
	}
	r := &periodicRunner{rdb: rdb, jc: jc, now: time.Now, log: log}
	seen := map[string]bool{}
	for _, p := range ps {
		s, err := p.parse()
		if err != nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("scheduler: periodic job %s named twice", p.Name)
		}
		seen[p.Name] = true
		if p.CatchUp == 0 {
			p.CatchUp = DefaultCatchUp
		}
		if p.CatchUp < 2*interval {
			return nil, fmt.Errorf("scheduler: periodic job %s: catch-up %s shorter than twice the interval %s", p.Name, p.CatchUp, interval)
		}
		r.entries = append(r.entries, periodicEntry{p: p, sched: s})
	}
	return r, nil
}

// run handles every periodic job once, going on past one that fails.
func (r *periodicRunner) run(ctx context.Context) error {
	var errs []error
	for _, e := range r.entries {
		if err := r.tick(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// idempotencyKey names the fire of p at tick t.
func idempotencyKey(p Periodic, t time.Time) string {
	return "periodic:" + p.Name + ":" + strconv.FormatInt(t.UnixMilli(), 10)
}

// PeriodicJobID is the ID of the job that periodic job p submits for its
// tick at t.
func PeriodicJobID(p Periodic, t time.Time) string {
	return jobs.IDForIdempotencyKey(idempotencyKey(p, t))
}

// tick fires the latest due tick of e, if any, and records it.
func (r *periodicRunner) tick(ctx context.Context, e periodicEntry) error {
	p, now := e.p, r.now()
	key := keys.Periodic(p.Name)
	raw, err := r.rdb.HGet(ctx, key, "last").Result()
	if errors.Is(err, redis.Nil) {
		// First sight: fire from the next tick on.
		if err := r.rdb.HSetNX(ctx, key, "last", now.UnixMilli()).Err(); err != nil {
			return fmt.Errorf("periodic job %s: recording its start: %w", p.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("periodic job %s: reading its last fire: %w", p.Name, err)
	}
	lastMs, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return fmt.Errorf("periodic job %s: malformed last fire %q in %s", p.Name, raw, key)
	}
	last := time.UnixMilli(lastMs)
	first := e.sched.Next(last)
	if first.IsZero() || first.After(now) {
		return nil // nothing due
	}
	from := last
	if oldest := now.Add(-p.CatchUp); oldest.After(from) {
		from = oldest
	}
	var due time.Time
	for t, n := e.sched.Next(from), 0; !t.IsZero() && !t.After(now) && n < maxTickScan; t, n = e.sched.Next(t), n+1 {
		due = t
	}
	if due.IsZero() {
		r.log.Warn("periodic job missed its ticks; skipped", "periodic", p.Name, "from", first, "catch_up", p.CatchUp)
		return r.mark(ctx, p, now, "", now)
	}
	if first.Before(due) {
		r.log.Warn("periodic job missed ticks; firing the latest once", "periodic", p.Name, "skipped_from", first, "tick", due)
	}
	opts := []jobs.Option{jobs.IdempotencyKey(idempotencyKey(p, due))}
	if p.Session != "" {
		opts = append(opts, jobs.Session(p.Session))
	}
	if p.Queue != "" {
		opts = append(opts, jobs.Queue(p.Queue))
	}
	sub, err := r.jc.Submit(ctx, p.Type, p.Payload, opts...)
	if err != nil {
		return fmt.Errorf("periodic job %s: submitting the fire of %s: %w", p.Name, due.UTC().Format(time.RFC3339), err)
	}
	r.log.Info("periodic job fired", "periodic", p.Name, "tick", due, "job", sub.ID, "existing", sub.Existing)
	return r.mark(ctx, p, due, sub.ID, now)
}

func (r *periodicRunner) mark(ctx context.Context, p Periodic, tick time.Time, job string, now time.Time) error {
	err := periodicMarkScript.Run(ctx, r.rdb, []string{keys.Periodic(p.Name)}, tick.UnixMilli(), job, now.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("periodic job %s: recording its fire: %w", p.Name, err)
	}
	return nil
}

// PeriodicInfo is a periodic job as ListPeriodic reports it.
type PeriodicInfo struct {
	Name     string    `json:"name"`
	Schedule string    `json:"schedule"`
	Type     string    `json:"type"`
	Session  string    `json:"session,omitempty"`
	Queue    string    `json:"queue"`
	Next     time.Time `json:"next"`
	LastTick time.Time `json:"last_tick,omitzero"` // the last tick handled (fired or skipped)
	LastJob  string    `json:"last_job,omitempty"` // the job of the last fire
	LastFire time.Time `json:"last_fire,omitzero"` // when the last fire was submitted
}

// ListPeriodic reports the periodic jobs ps as of now: their next tick and
// their last fire as recorded in Redis. Invalid entries are an error.
func ListPeriodic(ctx context.Context, rdb redis.UniversalClient, ps []Periodic, now time.Time) ([]PeriodicInfo, error) {
	var out []PeriodicInfo
	for _, p := range ps {
		s, err := p.parse()
		if err != nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
		q := p.Queue
		if q == "" {
			q = jobs.DefaultQueue
		}
		in := PeriodicInfo{Name: p.Name, Schedule: p.describe(), Type: p.Type, Session: p.Session, Queue: q, Next: s.Next(now)}
		v, err := rdb.HMGet(ctx, keys.Periodic(p.Name), "last", "job", "fired").Result()
		if err != nil {
			return nil, fmt.Errorf("reading periodic job %s: %w", p.Name, err)
		}
		ms := func(x any) time.Time {
			s, _ := x.(string)
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return time.Time{}
			}
			return time.UnixMilli(n)
		}
		in.LastTick, in.LastFire = ms(v[0]), ms(v[2])
		in.LastJob, _ = v[1].(string)
		out = append(out, in)
	}
	return out, nil
}
