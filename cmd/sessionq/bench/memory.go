package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
)

// MemoryConfig configures RunMemory.
type MemoryConfig struct {
	// RedisURL is the Redis to run on; its database must be empty, and it
	// is emptied at the end. Required.
	RedisURL string
	// Count is the number of parked jobs, and of idle sessions. Default
	// 1,000,000.
	Count int
	// Sessions is the number of sessions the parked jobs wait in (Count /
	// Sessions jobs each). Default 100.
	Sessions int
	// Owners is the number of owners the idle sessions are spread over.
	// Default 1000.
	Owners int
	// Workers is the number of goroutines that create them. Default 32.
	Workers int
	// Samples is the number of timed operations of each kind, on the empty
	// and on the filled Redis. Default 2000.
	Samples int
}

func (c *MemoryConfig) defaults() error {
	if c.Count == 0 {
		c.Count = 1_000_000
	}
	if c.Sessions == 0 {
		c.Sessions = 100
	}
	if c.Owners == 0 {
		c.Owners = 1000
	}
	if c.Workers == 0 {
		c.Workers = 32
	}
	if c.Samples == 0 {
		c.Samples = 2000
	}
	if c.RedisURL == "" {
		return errors.New("bench: memory: a Redis URL is required")
	}
	if c.Count < 1 || c.Sessions < 1 || c.Sessions > c.Count || c.Owners < 1 || c.Workers < 1 || c.Samples < 1 {
		return fmt.Errorf("bench: memory: count %d, sessions %d, owners %d, workers %d, samples %d: want positive values, sessions <= count",
			c.Count, c.Sessions, c.Owners, c.Workers, c.Samples)
	}
	return nil
}

// Timing is the spread of one kind of operation's duration.
type Timing struct {
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
}

// MemoryResult is what RunMemory measured.
type MemoryResult struct {
	Count, Sessions, Owners int
	// ParkedJobBytes is the growth of used_memory per parked job (its
	// record, its place in the session's list, its ID index), and
	// IdleSessionBytes per idle session (record, sweep index, owner index).
	ParkedJobBytes   float64
	IdleSessionBytes float64
	// UsedMemory is used_memory with both loaded.
	UsedMemory int64
	// Usage is MEMORY USAGE of single keys, by name.
	Usage map[string]int64
	// FillParked and FillSessions are how long creating them took.
	FillParked, FillSessions time.Duration
	// Empty and Loaded time the same operations on the empty Redis and on
	// the loaded one: "submit, new session", "submit, parked" (behind the
	// backlog of one of the Sessions sessions, or behind one job when
	// empty), "session create".
	Empty, Loaded map[string]Timing
}

// Operation names of MemoryResult.Empty and Loaded.
const (
	OpSubmitNew     = "submit, new session"
	OpSubmitParked  = "submit, parked"
	OpSessionCreate = "session create"
)

// RunMemory measures Redis memory at scale: cfg.Count parked jobs and
// cfg.Count idle sessions (used_memory growth), and the time of a submit and
// of a session create on the empty Redis and on the loaded one. It takes
// minutes and, with the defaults, about 1 to 2 GB of Redis memory.
func RunMemory(ctx context.Context, cfg MemoryConfig, log io.Writer) (*MemoryResult, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("bench: invalid Redis URL %q: %w", cfg.RedisURL, err)
	}
	opts.PoolSize = cfg.Workers + 4
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	n, err := rdb.DBSize(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("bench: reaching Redis at %s: %w", opts.Addr, err)
	}
	if n != 0 {
		return nil, fmt.Errorf("%w: database %d at %s holds %d keys", ErrNotEmpty, opts.DB, opts.Addr, n)
	}
	defer func() { _ = rdb.FlushDB(context.WithoutCancel(ctx)).Err() }()
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	if err != nil {
		return nil, err
	}
	// The owners' quota is raised to hold what the bench creates: the idle
	// sessions of each owner, and the samples of one "probe" owner.
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: slog.New(slog.DiscardHandler),
		MaxSessionsPerOwner: max(sessiontable.DefaultMaxSessionsPerOwner, cfg.Count/cfg.Owners+1, 2*cfg.Samples)})
	if err != nil {
		return nil, err
	}
	res := &MemoryResult{Count: cfg.Count, Sessions: cfg.Sessions, Owners: cfg.Owners, Usage: map[string]int64{}}

	// Timings on the empty Redis, then empty it again.
	if _, err := jc.Submit(ctx, benchType, payload(0), jobs.Session("probe-busy")); err != nil {
		return nil, err
	}
	if res.Empty, err = timeOps(ctx, jc, tbl, cfg.Samples, "probe-busy", "empty"); err != nil {
		return nil, err
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return nil, fmt.Errorf("emptying the database: %w", err)
	}

	base, err := usedMemory(ctx, rdb)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	perSession := cfg.Count / cfg.Sessions
	total := perSession * cfg.Sessions
	var lastID, lastIDSession string
	var idMu sync.Mutex
	err = parallel(ctx, cfg.Workers, total, func(ctx context.Context, i int) error {
		// Job i is the (i / Sessions)th of session i % Sessions: each
		// session's first job is dispatched, the others park behind it.
		s := parkSession(i % cfg.Sessions)
		sub, err := jc.Submit(ctx, benchType, payload(i), jobs.Session(s))
		if err != nil {
			return err
		}
		if sub.State == jobs.StateParked {
			idMu.Lock()
			lastID, lastIDSession = sub.ID, s
			idMu.Unlock()
		}
		return nil
	}, func(done int) { _, _ = fmt.Fprintf(log, "parked jobs: %d of %d\n", done, total) })
	if err != nil {
		return nil, fmt.Errorf("parking jobs: %w", err)
	}
	res.FillParked = time.Since(t0)
	afterJobs, err := usedMemory(ctx, rdb)
	if err != nil {
		return nil, err
	}
	res.ParkedJobBytes = float64(afterJobs-base) / float64(total)

	t0 = time.Now()
	var lastSession string
	err = parallel(ctx, cfg.Workers, cfg.Count, func(ctx context.Context, i int) error {
		s, err := tbl.Create(ctx, sessiontable.Spec{Owner: "user-" + strconv.Itoa(i%cfg.Owners), IdleTimeout: 24 * time.Hour})
		if err != nil {
			return err
		}
		idMu.Lock()
		lastSession = s.ID
		idMu.Unlock()
		return nil
	}, func(done int) { _, _ = fmt.Fprintf(log, "idle sessions: %d of %d\n", done, cfg.Count) })
	if err != nil {
		return nil, fmt.Errorf("creating sessions: %w", err)
	}
	res.FillSessions = time.Since(t0)
	afterSessions, err := usedMemory(ctx, rdb)
	if err != nil {
		return nil, err
	}
	res.IdleSessionBytes = float64(afterSessions-afterJobs) / float64(cfg.Count)
	res.UsedMemory = afterSessions

	for name, key := range map[string]string{
		"job record (hash)":           ledger.KeysOf(lastIDSession, lastID).Record,
		"job ID index (string)":       ledger.KeysOf(lastIDSession, lastID).Index,
		"session's pending list":      ledger.KeysOf(parkSession(0), "").Pending,
		"session record (hash)":       keys.Session(lastSession),
		"sweep index sq:sessions":     keys.Prefix + "sessions",
		"owner index of one owner":    keys.Owner("user-0"),
		"asynq pending list of heads": "asynq:{" + benchQueue + "}:pending",
	} {
		u, err := rdb.MemoryUsage(ctx, key, 0).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("MEMORY USAGE %s: %w", key, err)
		}
		res.Usage[name] = u
	}

	if res.Loaded, err = timeOps(ctx, jc, tbl, cfg.Samples, parkSession(0), "loaded"); err != nil {
		return nil, err
	}
	return res, nil
}

func parkSession(k int) string { return fmt.Sprintf("park-%05d", k) }

// timeOps times samples operations of each kind, one at a time.
func timeOps(ctx context.Context, jc *jobs.Client, tbl *sessiontable.Table, samples int, busy, tag string) (map[string]Timing, error) {
	out := map[string]Timing{}
	ops := []struct {
		name string
		op   func(i int) error
	}{
		{OpSubmitNew, func(i int) error {
			_, err := jc.Submit(ctx, benchType, payload(i), jobs.Session("probe-"+tag+"-"+strconv.Itoa(i)))
			return err
		}},
		{OpSubmitParked, func(i int) error {
			sub, err := jc.Submit(ctx, benchType, payload(i), jobs.Session(busy))
			if err == nil && sub.State != jobs.StateParked {
				err = fmt.Errorf("a submit to %s was not parked: %s", busy, sub.State)
			}
			return err
		}},
		{OpSessionCreate, func(int) error {
			_, err := tbl.Create(ctx, sessiontable.Spec{Owner: "probe", IdleTimeout: time.Hour})
			return err
		}},
	}
	for _, o := range ops {
		d := make([]time.Duration, 0, samples)
		for i := range samples {
			t := time.Now()
			if err := o.op(i); err != nil {
				return nil, fmt.Errorf("%s: %w", o.name, err)
			}
			d = append(d, time.Since(t))
		}
		slices.Sort(d)
		out[o.name] = Timing{P50: d[len(d)/2], P99: d[len(d)*99/100]}
	}
	return out, nil
}

// parallel runs fn for 0..n-1 on workers goroutines, calling progress about
// every tenth of the way; it stops at the first error.
func parallel(ctx context.Context, workers, n int, fn func(context.Context, int) error, progress func(int)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu   sync.Mutex
		next int
		wg   sync.WaitGroup
	)
	step := max(n/10, 1)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
				if (i+1)%step == 0 {
					progress(i + 1)
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// usedMemory is the server's used_memory (INFO memory).
func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	s, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("reading INFO memory: %w", err)
	}
	for line := range strings.SplitSeq(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO memory")
}

// WriteMemoryReport prints res.
func WriteMemoryReport(w io.Writer, res *MemoryResult) error {
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }
	p("parked jobs     %d in %d sessions: %.0f bytes each (used_memory growth), created in %v\n",
		res.Count/res.Sessions*res.Sessions, res.Sessions, res.ParkedJobBytes, res.FillParked.Round(time.Second))
	p("idle sessions   %d over %d owners, no TID: %.0f bytes each (record, sweep index, owner index), created in %v\n",
		res.Count, res.Owners, res.IdleSessionBytes, res.FillSessions.Round(time.Second))
	p("used_memory     %.2f GiB loaded\n", float64(res.UsedMemory)/(1<<30))
	names := make([]string, 0, len(res.Usage))
	for k := range res.Usage {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		p("MEMORY USAGE    %-28s %d bytes\n", k, res.Usage[k])
	}
	p("\n%-22s %12s %12s %12s %12s\n", "operation", "empty p50", "empty p99", "loaded p50", "loaded p99")
	for _, op := range []string{OpSubmitNew, OpSubmitParked, OpSessionCreate} {
		e, l := res.Empty[op], res.Loaded[op]
		p("%-22s %12v %12v %12v %12v\n", op, e.P50.Round(time.Microsecond), e.P99.Round(time.Microsecond),
			l.P50.Round(time.Microsecond), l.P99.Round(time.Microsecond))
	}
	return nil
}
