package sessiontable

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
)

// SweeperConfig configures a Sweeper. Zero values take the defaults named.
type SweeperConfig struct {
	// Batch is how many due sessions one round trip fetches. Default 100.
	Batch int
	// MaxPerRun bounds the sessions one Sweep looks at. Default 5000.
	MaxPerRun int
	// MaxRunTime bounds the time of one Sweep, so that it does not hold up
	// the scheduler's other work. Default 1s.
	MaxRunTime time.Duration
}

// Sweeper cleans up after sessions that ended: for each session past its
// idle timeout or lifetime (or closed by a Close that did not finish, or
// left behind by a creation that died half-way) it deletes the session's
// parameters, sub-sessions and files, releases its TID, drops it from its
// owner's index and emits a "session.expired" event (keys.Events) and a log
// line.
//
// It works from the sweep index (keys.Sessions), whose score for each
// session is never later than the session's expiry: expiry only ever moves
// later (every use pushes it), and each sweep that finds a session still
// open moves its score to its current expiry. So a session that ended at
// time E is cleaned up by the first Sweep that starts after E and gets to
// it. Run from the scheduler (Task) every Interval, that is within
// Interval plus the time to sweep what is due before it, as long as fewer
// than MaxPerRun sessions end per Interval; add the scheduler's leader term
// when the leading scheduler dies. A creation that died half-way is swept
// a minute after it began.
type Sweeper struct {
	t   *Table
	cfg SweeperConfig
}

// NewSweeper returns a Sweeper for t.
func NewSweeper(t *Table, cfg SweeperConfig) (*Sweeper, error) {
	if cfg.Batch == 0 {
		cfg.Batch = 100
	}
	if cfg.MaxPerRun == 0 {
		cfg.MaxPerRun = 5000
	}
	if cfg.MaxRunTime == 0 {
		cfg.MaxRunTime = time.Second
	}
	switch {
	case cfg.Batch < 1:
		return nil, fmt.Errorf("sessiontable: sweep batch %d below 1", cfg.Batch)
	case cfg.MaxPerRun < 1:
		return nil, fmt.Errorf("sessiontable: sweep max per run %d below 1", cfg.MaxPerRun)
	case cfg.MaxRunTime < time.Millisecond:
		return nil, fmt.Errorf("sessiontable: sweep max run time %s shorter than 1ms", cfg.MaxRunTime)
	}
	return &Sweeper{t: t, cfg: cfg}, nil
}

// Run is one Sweep that logs what it did: the sweep as periodic singleton
// work, for instance a scheduler.Task{Name: "session-sweep", Run: s.Run}
// of the leader that every worker elects (worker.Config.Maintenance).
func (s *Sweeper) Run(ctx context.Context) error {
	rep, err := s.Sweep(ctx)
	if rep.Ended > 0 || rep.More {
		s.t.log.Info("session sweep", "looked_at", rep.Looked, "ended", rep.Ended, "more_due", rep.More)
	}
	return err
}

// SweepReport is what one Sweep did.
type SweepReport struct {
	Looked int  // due sessions looked at
	Ended  int  // sessions found ended and cleaned up
	More   bool // the sweep stopped at its bounds with more due
}

// retryAfter is how long the sweep leaves a session it failed to clean up
// before it tries again, so that one failing session (a storage error)
// does not hold up the others.
const retryAfter = 30 * time.Second

// Sweep looks once at every session that is due, within the bounds of
// MaxPerRun and MaxRunTime. Running it beside another Sweep or a Close is
// safe: every step is idempotent, and one event is emitted per session. A
// session it fails to clean up is tried again retryAfter later; Sweep goes
// on with the others and returns the first such error.
func (s *Sweeper) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	var first error
	start := time.Now()
	for rep.Looked < s.cfg.MaxPerRun {
		if time.Since(start) >= s.cfg.MaxRunTime {
			rep.More = true
			return rep, first
		}
		n := min(s.cfg.Batch, s.cfg.MaxPerRun-rep.Looked)
		r, err := dueScript.Run(ctx, s.t.rdb, []string{keys.Sessions}, n).Slice()
		if err != nil {
			return rep, fmt.Errorf("sweeping sessions: %w", err)
		}
		now, due := num(r[0]), r[1:]
		for _, m := range due {
			rep.Looked++
			ended, err := s.one(ctx, str(m))
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			if err != nil {
				s.t.log.Error("sweeping a session; trying again later", "entry", str(m), "err", err)
				first = cmp.Or(first, err)
				s.t.rdb.ZAddArgs(ctx, keys.Sessions, redis.ZAddArgs{XX: true,
					Members: []redis.Z{{Score: float64(now + retryAfter.Milliseconds()), Member: m}}})
			}
			if ended {
				rep.Ended++
			}
		}
		if len(due) < n {
			return rep, first
		}
	}
	rep.More = true
	return rep, first
}

// one looks at one due member of the sweep index, and reports whether it
// found the session ended (and cleaned it up).
func (s *Sweeper) one(ctx context.Context, m string) (bool, error) {
	e, ok := parseEntry(m)
	if !ok {
		// Not written by this package: drop it rather than trip on it forever.
		s.t.log.Warn("sweep: dropping a malformed index entry", "entry", m)
		return false, s.t.rdb.ZRem(ctx, keys.Sessions, m).Err()
	}
	r, err := endScript.Run(ctx, s.t.rdb, endKeys(e.id), "sweep", keys.SessionAppPrefix(e.id), s.t.grace.Milliseconds()).Slice()
	if err != nil {
		return false, fmt.Errorf("sweeping session %s: %w", e.id, err)
	}
	if word(r[0]) == verdictLive {
		at := num(r[1])
		if at < 0 {
			// No expiry: never set by this package; look again later.
			at = time.Now().Add(time.Hour).UnixMilli()
		}
		err := s.t.rdb.ZAddArgs(ctx, keys.Sessions, redis.ZAddArgs{XX: true,
			Members: []redis.Z{{Score: float64(at), Member: m}}}).Err()
		if err != nil {
			return false, fmt.Errorf("sweeping session %s: %w", e.id, err)
		}
		return false, nil
	}
	if err := s.t.settle(ctx, e, "expired"); err != nil {
		return false, fmt.Errorf("sweeping session %s: %w", e.id, err)
	}
	return true, nil
}
