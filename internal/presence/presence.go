// Package presence tells which worker processes handle a job type now.
//
// Each worker process publishes the job types it handles with a time to
// live, refreshed by a heartbeat (Publisher), and withdraws them when it
// stops; a producer asks Handlers before or while it waits for a job, to
// warn when no live worker would take it. Presence is advisory: it never
// decides where a job runs.
//
// Per job type, one sorted set (keys.Handlers) holds the live processes,
// scored by the Redis server time until which each is live, so clocks of
// the fleet's machines do not matter. Every command touches one key, so it
// works on Redis Cluster as on a single server.
package presence

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/startstop"
	"github.com/sessionq/sessionq/internal/validate"
)

// Defaults of Config.
const (
	// DefaultTTL is how long a published entry lives without a heartbeat.
	DefaultTTL = 15 * time.Second
	// withdrawTimeout bounds the withdrawal of Stop.
	withdrawTimeout = 2 * time.Second
)

// ErrInvalid is wrapped by the errors of invalid arguments.
var ErrInvalid = errors.New("presence: invalid argument")

var (
	//go:embed lua/publish.lua
	publishLua    string
	publishScript = redis.NewScript(publishLua)
	//go:embed lua/handlers.lua
	handlersLua    string
	handlersScript = redis.NewScript(handlersLua)
)

func check(processID string, types []string, ttl time.Duration) error {
	if processID == "" {
		return fmt.Errorf("%w: empty process ID", ErrInvalid)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("%w: ttl %s: must be at least 1ms", ErrInvalid, ttl)
	}
	for _, t := range types {
		if err := checkType(t); err != nil {
			return err
		}
	}
	return nil
}

// checkType checks a job type by the job client's rules.
func checkType(t string) error {
	if why := validate.Name(t, validate.MaxTypeLen, validate.TypeChar); why != "" {
		return fmt.Errorf("%w: job type %q: %s", ErrInvalid, validate.Cut(t), why)
	}
	return nil
}

// Publish says that process processID handles each of types for ttl from
// now (Redis server time).
func Publish(ctx context.Context, rdb redis.Cmdable, processID string, types []string, ttl time.Duration) error {
	if err := check(processID, types, ttl); err != nil {
		return err
	}
	for _, t := range types {
		if err := publishScript.Run(ctx, rdb, []string{keys.Handlers(t)}, processID, ttl.Milliseconds()).Err(); err != nil {
			return fmt.Errorf("publishing handler of job type %q: %w", t, err)
		}
	}
	return nil
}

// Withdraw removes what Publish said of processID and types.
func Withdraw(ctx context.Context, rdb redis.Cmdable, processID string, types []string) error {
	var errs []error
	for _, t := range types {
		if err := rdb.ZRem(ctx, keys.Handlers(t), processID).Err(); err != nil {
			errs = append(errs, fmt.Errorf("withdrawing handler of job type %q: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// Handlers returns the IDs of the processes that handle jobType now,
// sorted; none is an empty slice and no error.
func Handlers(ctx context.Context, rdb redis.Cmdable, jobType string) ([]string, error) {
	if err := checkType(jobType); err != nil {
		return nil, err
	}
	ids, err := handlersScript.Run(ctx, rdb, []string{keys.Handlers(jobType)}).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading handlers of job type %q: %w", jobType, err)
	}
	slices.Sort(ids)
	return ids, nil
}

// Config configures a Publisher. Zero values take the defaults named.
type Config struct {
	// TTL is how long an entry lives without a heartbeat. Default
	// DefaultTTL (15s).
	TTL time.Duration
	// Interval is the time between heartbeats. Default TTL/3.
	Interval time.Duration
	// Logger reports failed heartbeats. Default slog.Default().
	Logger *slog.Logger
}

// Publisher publishes a process's job types and keeps them live with a
// heartbeat until it stops.
type Publisher struct {
	rdb   redis.Cmdable
	id    string
	types []string
	cfg   Config

	startstop.Base
}

// NewPublisher returns a Publisher of processID's types, not started.
func NewPublisher(rdb redis.Cmdable, processID string, types []string, cfg Config) (*Publisher, error) {
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Interval == 0 {
		cfg.Interval = cfg.TTL / 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := check(processID, types, cfg.TTL); err != nil {
		return nil, err
	}
	if cfg.Interval <= 0 || cfg.Interval >= cfg.TTL {
		return nil, fmt.Errorf("%w: interval %s: must be positive and shorter than the ttl %s", ErrInvalid, cfg.Interval, cfg.TTL)
	}
	return &Publisher{rdb: rdb, id: processID, types: slices.Clone(types), cfg: cfg}, nil
}

// Start publishes the types once, returning the error if that fails, then
// refreshes them every Interval until Stop or until ctx ends, and then
// withdraws them.
func (p *Publisher) Start(ctx context.Context) error {
	err := p.StartWith(ctx, func(ctx context.Context) (func(), error) {
		if err := Publish(ctx, p.rdb, p.id, p.types, p.cfg.TTL); err != nil {
			return nil, err
		}
		return func() { p.run(ctx) }, nil
	})
	if errors.Is(err, startstop.ErrStarted) || errors.Is(err, startstop.ErrStopped) {
		return fmt.Errorf("presence: %w", err)
	}
	return err
}

// run is the heartbeat, then the withdrawal, so that producers see at once
// that this process is gone.
func (p *Publisher) run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), withdrawTimeout)
			defer cancel()
			if err := Withdraw(wctx, p.rdb, p.id, p.types); err != nil {
				// The entries expire after the TTL anyway.
				p.cfg.Logger.Warn("presence withdrawal failed", "process", p.id, "err", err)
			}
			return
		case <-t.C:
		}
		if err := Publish(ctx, p.rdb, p.id, p.types, p.cfg.TTL); err != nil && ctx.Err() == nil {
			p.cfg.Logger.WarnContext(ctx, "presence heartbeat failed", "process", p.id, "err", err)
		}
	}
}

// Stop ends the heartbeat and withdraws the types (startstop.Base.Stop). It
// is safe to call twice, and before Start.
func (p *Publisher) Stop() { p.Base.Stop() }
