// Package sessiontable is sessionq's session table: server-side sessions in
// Redis with an owner, an optional terminal ID (TID), string parameters,
// named files, application sub-sessions and an inactivity timeout, and the
// view of its session that a job gets while it runs.
//
// # Model
//
// A session is a small hash, keys.Session(id), whose TTL is the session's
// life: every use refreshes it (last access = now, expiry = now + idle
// timeout, capped by the absolute lifetime), and Redis expires it when the
// session has been idle too long. A job of a session is active exactly when
// that record exists. Its parameters, sub-sessions and (with the default
// Redis storage) files are further keys under the same hash tag, written by
// Lua scripts that first check the record, so a session that has ended reads
// as no session at all. The expiry sweep (Sweeper) then deletes what is left,
// releases the TID and emits an event.
//
// Uses that refresh the idle timer: submitting a job with the session, and
// every call of this package on it (Get, Lookup, parameters, files), and a
// job attached to it. A job or call flagged out-of-session (the jobs package's OutOfSession,
// OutOfSession) does not.
//
// # Establish
//
// Establish follows the establish-session protocol: create=true makes a new
// session, bound to the TID when one is given; create=false finds the
// session bound to the TID (ErrTIDRequired without one, ErrNotFound when
// none is). TIDs are per owner: each owner binds and finds TIDs in a
// namespace of its own. A TID names at most one live session of its
// owner: binding one that is taken fails with ErrTIDTaken unless
// Spec.ReplaceTID.
//
// # Jobs
//
// Attach (adapted by worker.SessionTable) gives each run of a session job
// its session. A job of an active session sees, from its
// handler's context (FromContext): Active, the session and application IDs,
// a local directory with the session's files, and its parameters. What the
// job changes is written back when it succeeds, and only while its lease's
// fencing token is still current; a stale writer is refused with an error
// wrapping ErrStale. An exec job gets the same through the
// environment (see JobSession.Env).
package sessiontable

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
)

// Errors. Invalid input wraps ErrInvalid.
var (
	// ErrStale: a job's write-back carried a fencing token that is no
	// longer the session's current one (its lease was lost): nothing was
	// written.
	ErrStale = errors.New("sessiontable: fencing token not current")
	// ErrBadOutput: a job left output the table cannot take (a
	// subdirectory, a link, an invalid name, a malformed parameters file);
	// retrying will not help.
	ErrBadOutput = errors.New("sessiontable: job output refused")
	// ErrNotFound: no open session has that ID (it never existed, was
	// closed or expired), or no live session is bound to that TID.
	ErrNotFound = errors.New("sessiontable: session not found")
	// ErrTIDRequired: finding an existing session needs its TID.
	ErrTIDRequired = errors.New("sessiontable: a TID is required to find an existing session")
	// ErrTIDTaken: the TID is bound to another live session.
	ErrTIDTaken = errors.New("sessiontable: TID is bound to another session")
	// ErrQuota: the owner has as many open sessions as allowed.
	ErrQuota = errors.New("sessiontable: open session quota reached")
	// ErrLimit is wrapped by every LimitError.
	ErrLimit = errors.New("sessiontable: limit exceeded")
	// ErrParamNotFound: the session has no such parameter.
	ErrParamNotFound = errors.New("sessiontable: parameter not found")
	// ErrFileNotFound: the session has no such file.
	ErrFileNotFound = errors.New("sessiontable: file not found")
	// ErrInactive: the job's session is not active, so it has nothing to
	// write to.
	ErrInactive = errors.New("sessiontable: session not active")
)

// LimitError says which limit a change would exceed. It wraps ErrLimit and
// ErrInvalid.
type LimitError struct {
	What  string // "parameters", "parameter value", "file size", ...
	Limit int64
	Got   int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("sessiontable: %s: %d is over the limit of %d", e.What, e.Got, e.Limit)
}

// Unwrap makes errors.Is true for ErrLimit and ErrInvalid.
func (e *LimitError) Unwrap() []error { return []error{ErrLimit, ErrInvalid} }

// DefaultOwner owns the sessions created without an owner.
const DefaultOwner = "anonymous"

// creationGrace bounds the time from the first step of a creation to its
// record: a later creation is refused, and the sweep cleans up what a
// creation left behind after this long. Session markers last as long.
const creationGrace = time.Minute

// Defaults of the limits of Config. Each can be raised in Config, none
// turned off: every session has an owner's quota, an idle timeout and a
// lifetime.
const (
	// DefaultMaxSessionsPerOwner is Config.MaxSessionsPerOwner's default.
	DefaultMaxSessionsPerOwner = 1000
	// DefaultMaxIdleTimeout is Config.MaxIdleTimeout's default.
	DefaultMaxIdleTimeout = 24 * time.Hour
	// DefaultMaxLifetime is Config.MaxLifetime's default, and
	// Config.Lifetime's.
	DefaultMaxLifetime = 30 * 24 * time.Hour
)

// Config configures a Table. Zero values take the defaults named.
type Config struct {
	// IdleTimeout is the idle timeout of a session created without one; at
	// most MaxIdleTimeout. Default 30m.
	IdleTimeout time.Duration
	// MaxIdleTimeout is the longest idle timeout a session may ask for: a
	// Spec.IdleTimeout above it is refused (ErrInvalid). Default
	// DefaultMaxIdleTimeout (24h); at most MaxTimeout.
	MaxIdleTimeout time.Duration
	// Lifetime is the absolute lifetime of a session created without one;
	// at most MaxLifetime. Default MaxLifetime.
	Lifetime time.Duration
	// MaxLifetime is the longest absolute lifetime a session may ask for:
	// a Spec.Lifetime above it is refused (ErrInvalid). Every session has
	// a lifetime. Default DefaultMaxLifetime (30 days); at most MaxTimeout.
	MaxLifetime time.Duration
	// MaxSessionsPerOwner caps the open sessions of one owner (a concurrent
	// licence each); one more is refused with ErrQuota. Default
	// DefaultMaxSessionsPerOwner (1000); there is no unlimited.
	MaxSessionsPerOwner int
	// MaxParams caps the parameters of a session, and separately those of
	// each of its sub-sessions. Default 256.
	MaxParams int
	// MaxParamValue caps one parameter value, in bytes. Default 64 KiB.
	MaxParamValue int
	// MaxApps caps the sub-sessions with parameters of one session.
	// Default 64.
	MaxApps int
	// MaxFileSize caps one file, in bytes. Default 1 MiB.
	MaxFileSize int64
	// MaxFiles caps the number of files of a session (Redis storage).
	// Default 256.
	MaxFiles int
	// MaxSessionBytes caps the files of a session together, in bytes
	// (Redis storage). Default 8 MiB.
	MaxSessionBytes int64
	// Storage keeps the files. Default: in Redis, on the table's client,
	// under the session's hash tag.
	Storage Storage
	// TempDir is where jobs' session directories are made. Default
	// os.TempDir().
	TempDir string
	// HotBacklog is the backlog (unfinished jobs of one session, seen when
	// one of them starts) from which a session is hot. Default 1000;
	// negative: no detection.
	HotBacklog int
	// HotInterval is how often a hot session is reported at most. Default 1m.
	HotInterval time.Duration
	// EventsMaxLen caps the event stream, approximately. Default 10000.
	EventsMaxLen int64
	// Logger receives the table's logs. Default slog.Default().
	Logger *slog.Logger
}

// Bounds of timeouts, lifetimes and their maximums.
const (
	MinTimeout = 10 * time.Millisecond
	MaxTimeout = 10 * 365 * 24 * time.Hour
)

// Defaults of Config, which the command line's configuration and the
// gateway refer to.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultMaxFileSize     = 1 << 20
	DefaultMaxSessionBytes = 8 << 20
	DefaultHotBacklog      = 1000
)

func (c Config) withDefaults() (Config, error) {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxIdleTimeout == 0 {
		c.MaxIdleTimeout = DefaultMaxIdleTimeout
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.Lifetime == 0 {
		c.Lifetime = c.MaxLifetime
	}
	if c.MaxSessionsPerOwner == 0 {
		c.MaxSessionsPerOwner = DefaultMaxSessionsPerOwner
	}
	if c.MaxParams == 0 {
		c.MaxParams = 256
	}
	if c.MaxParamValue == 0 {
		c.MaxParamValue = 64 << 10
	}
	if c.MaxApps == 0 {
		c.MaxApps = 64
	}
	if c.MaxFileSize == 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = 256
	}
	if c.MaxSessionBytes == 0 {
		c.MaxSessionBytes = DefaultMaxSessionBytes
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.HotBacklog == 0 {
		c.HotBacklog = DefaultHotBacklog
	}
	if c.HotInterval == 0 {
		c.HotInterval = time.Minute
	}
	if c.EventsMaxLen == 0 {
		c.EventsMaxLen = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch {
	case c.MaxIdleTimeout < MinTimeout || c.MaxIdleTimeout > MaxTimeout:
		return fmt.Errorf("sessiontable: max idle timeout %s out of range %s..%s", c.MaxIdleTimeout, MinTimeout, MaxTimeout)
	case c.MaxLifetime < MinTimeout || c.MaxLifetime > MaxTimeout:
		return fmt.Errorf("sessiontable: max lifetime %s out of range %s..%s", c.MaxLifetime, MinTimeout, MaxTimeout)
	case c.IdleTimeout < MinTimeout || c.IdleTimeout > c.MaxIdleTimeout:
		return fmt.Errorf("sessiontable: idle timeout %s out of range %s..%s (the max idle timeout)", c.IdleTimeout, MinTimeout, c.MaxIdleTimeout)
	case c.Lifetime < MinTimeout || c.Lifetime > c.MaxLifetime:
		return fmt.Errorf("sessiontable: lifetime %s out of range %s..%s (the max lifetime)", c.Lifetime, MinTimeout, c.MaxLifetime)
	case c.MaxSessionsPerOwner < 0:
		return fmt.Errorf("sessiontable: max sessions per owner %d is negative (0: the default, %d)", c.MaxSessionsPerOwner, DefaultMaxSessionsPerOwner)
	case c.MaxParams < 1:
		return fmt.Errorf("sessiontable: max params %d below 1", c.MaxParams)
	case c.MaxParamValue < 1:
		return fmt.Errorf("sessiontable: max param value %d below 1", c.MaxParamValue)
	case c.MaxApps < 1:
		return fmt.Errorf("sessiontable: max apps %d below 1", c.MaxApps)
	case c.MaxFileSize < 1:
		return fmt.Errorf("sessiontable: max file size %d below 1", c.MaxFileSize)
	case c.MaxFiles < 1:
		return fmt.Errorf("sessiontable: max files %d below 1", c.MaxFiles)
	case c.MaxSessionBytes < c.MaxFileSize:
		return fmt.Errorf("sessiontable: max session bytes %d below max file size %d", c.MaxSessionBytes, c.MaxFileSize)
	case c.HotInterval < time.Millisecond:
		return fmt.Errorf("sessiontable: hot interval %s shorter than 1ms", c.HotInterval)
	case c.EventsMaxLen < 1:
		return fmt.Errorf("sessiontable: events max len %d below 1", c.EventsMaxLen)
	}
	return nil
}

// Table is the session table. It is safe for concurrent use.
type Table struct {
	rdb   redis.UniversalClient
	cfg   Config
	store Storage
	log   *slog.Logger
	grace time.Duration // creationGrace; shorter in tests
	hot   hotThrottle
}

// New returns a Table on rdb; rdb stays the caller's to close.
func New(rdb redis.UniversalClient, cfg Config) (*Table, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	store := c.Storage
	if store == nil {
		store = &redisStorage{rdb: rdb}
	}
	return &Table{rdb: rdb, cfg: c, store: store, log: c.Logger, grace: creationGrace}, nil
}

// State is the state of a session as Get reads it.
type State string

// StateOpen is the state of every session that Get finds: a session exists
// exactly while its record does, so a closed or expired one is not found
// (its end is in the event stream, keys.Events).
const StateOpen State = "open"

// Info is a session as the table reads it.
type Info struct {
	ID          string
	Owner       string
	TID         string // the TID the session was created with, if any
	State       State
	Created     time.Time
	LastAccess  time.Time
	IdleTimeout time.Duration
	Deadline    time.Time // end of its absolute lifetime; zero when none
	Expires     time.Time // when it expires unless used again
}

func infoFromRecord(id string, m map[string]string) *Info {
	n := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
	in := &Info{
		ID: id, Owner: m["own"], TID: m["tid"], State: StateOpen,
		Created: time.UnixMilli(n("ct")), LastAccess: time.UnixMilli(n("la")),
		IdleTimeout: time.Duration(n("idle")) * time.Millisecond,
	}
	exp := n("la") + n("idle")
	if dl := n("dl"); dl > 0 {
		in.Deadline = time.UnixMilli(dl)
		exp = min(exp, dl)
	}
	in.Expires = time.UnixMilli(exp)
	return in
}

// Spec describes a new session.
type Spec struct {
	// Owner owns the session; it counts against the owner's quota.
	// Default DefaultOwner.
	Owner string
	// TID, when set, binds the session to this terminal ID, in Owner's
	// namespace: another owner's TID of the same name is another TID.
	TID string
	// ReplaceTID takes the TID over when another live session is bound to
	// it; that session stays open but is no longer found by the TID.
	ReplaceTID bool
	// IdleTimeout: default Config.IdleTimeout; at most
	// Config.MaxIdleTimeout.
	IdleTimeout time.Duration
	// Lifetime: default Config.Lifetime; at most Config.MaxLifetime.
	Lifetime time.Duration
	// Params are the session's first parameters.
	Params map[string]string
}

func (t *Table) checkSpec(s *Spec) error {
	if s.Owner == "" {
		s.Owner = DefaultOwner
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = t.cfg.IdleTimeout
	}
	if s.Lifetime == 0 {
		s.Lifetime = t.cfg.Lifetime
	}
	if err := ValidateOwner(s.Owner); err != nil {
		return err
	}
	if s.TID != "" {
		if err := ValidateTID(s.TID); err != nil {
			return err
		}
	}
	if s.IdleTimeout < MinTimeout || s.IdleTimeout > t.cfg.MaxIdleTimeout {
		return invalid("idle timeout", s.IdleTimeout.String(), fmt.Sprintf("want %s to %s (the max idle timeout)", MinTimeout, t.cfg.MaxIdleTimeout))
	}
	if s.Lifetime < MinTimeout || s.Lifetime > t.cfg.MaxLifetime {
		return invalid("lifetime", s.Lifetime.String(), fmt.Sprintf("want %s to %s (the max lifetime)", MinTimeout, t.cfg.MaxLifetime))
	}
	return t.checkParams(s.Params, nil)
}

// entry is a session's member of the sweep index, "S|U|T": what its cleanup
// needs once its record is gone.
type entry struct{ id, owner, tid string }

func (e entry) member() string { return e.id + "|" + e.owner + "|" + e.tid }

func parseEntry(m string) (entry, bool) {
	p := strings.Split(m, "|")
	if len(p) != 3 || ValidateID(p[0]) != nil {
		return entry{}, false
	}
	return entry{id: p[0], owner: p[1], tid: p[2]}, true
}

// Create makes a new session. With spec.TID it binds the TID to it, and
// fails with ErrTIDTaken when the TID names another live session (unless
// spec.ReplaceTID). It fails with ErrQuota when the owner has
// MaxSessionsPerOwner open sessions.
//
// The steps touch several Redis Cluster slots, in an order that leaves
// nothing behind for long if the caller dies between two of them: the
// session is first enrolled in the sweep index, then counted against its
// owner, then marked pending and the TID claimed (compare and swap), then
// the record is written. A creation that dies half-way is cleaned up by the
// sweep within a minute, and holds its TID until then. Of concurrent
// creations with one TID the first to claim it wins, and a record is only
// ever written for the session that holds the TID.
func (t *Table) Create(ctx context.Context, spec Spec) (*Info, error) {
	if err := t.checkSpec(&spec); err != nil {
		return nil, err
	}
	e := entry{id: NewID(), owner: spec.Owner, tid: spec.TID}
	began, undo, err := t.prepare(ctx, e, spec.ReplaceTID)
	if err != nil {
		return nil, err
	}
	in, err := t.record(ctx, e, began, spec)
	if err != nil {
		undo()
		return nil, err
	}
	return in, nil
}

// prepare runs the cross-slot steps of creating session e: enrol it in the
// sweep index, count it against its owner, mark it pending and claim its
// TID. It returns when the creation began (server ms) and a function that
// undoes the steps; on error it has undone them itself.
func (t *Table) prepare(ctx context.Context, e entry, replace bool) (began int64, undo func(), err error) {
	var steps []func(context.Context) error
	undo = func() {
		// Best effort: what is not undone here, the sweep cleans up.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for i := len(steps) - 1; i >= 0; i-- {
			if err := steps[i](uctx); err != nil {
				t.log.Warn("undoing a failed session creation; the sweep will", "session", e.id, "err", err)
			}
		}
	}
	began, err = enrollScript.Run(ctx, t.rdb, []string{keys.Sessions}, e.member(), t.grace.Milliseconds()).Int64()
	if err != nil {
		return 0, nil, fmt.Errorf("creating session: enrolling it: %w", err)
	}
	steps = append(steps, func(ctx context.Context) error { return t.rdb.ZRem(ctx, keys.Sessions, e.member()).Err() })
	if err := t.reserve(ctx, e.id, e.owner); err != nil {
		undo()
		return 0, nil, err
	}
	steps = append(steps, func(ctx context.Context) error { return t.rdb.ZRem(ctx, keys.Owner(e.owner), e.id).Err() })
	if e.tid != "" {
		// In flight: whoever finds the TID bound to it meanwhile leaves it be.
		if err := t.rdb.Set(ctx, keys.SessionMarker(e.id), "pending", t.grace).Err(); err != nil {
			undo()
			return 0, nil, fmt.Errorf("creating session: %w", err)
		}
		if err := t.claimTID(ctx, e.owner, e.tid, e.id, replace); err != nil {
			undo()
			return 0, nil, err
		}
		steps = append(steps, func(ctx context.Context) error {
			return tidScript.Run(ctx, t.rdb, []string{keys.TID(e.owner, e.tid)}, "release", e.id).Err()
		})
	}
	return began, undo, nil
}

// record writes the record of session e, prepared at began, and brings its
// sweep forward from the creation grace to its expiry.
func (t *Table) record(ctx context.Context, e entry, began int64, spec Spec) (*Info, error) {
	args := []any{began, (t.grace / 2).Milliseconds(), spec.Owner, spec.TID,
		spec.IdleTimeout.Milliseconds(), spec.Lifetime.Milliseconds()}
	for k, v := range spec.Params {
		args = append(args, k, v)
	}
	r, err := createScript.Run(ctx, t.rdb,
		[]string{keys.Session(e.id), keys.SessionParams(e.id), keys.SessionMarker(e.id)}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("creating session: %w", err)
	}
	switch word(r[0]) {
	case verdictOK:
	case verdictBuried:
		// Another creation took the TID over while this one was in flight.
		return nil, fmt.Errorf("creating session with TID %q: %w (taken over by a concurrent creation)", spec.TID, ErrTIDTaken)
	case verdictLate:
		return nil, fmt.Errorf("creating session: took longer than %s; try again", t.grace/2)
	default:
		return nil, fmt.Errorf("creating session: unexpected reply %v", r)
	}
	now, exp := num(r[1]), num(r[2])
	// If this fails, the sweep comes at the end of the grace instead.
	if err := t.rdb.ZAddArgs(ctx, keys.Sessions, redis.ZAddArgs{XX: true, LT: true,
		Members: []redis.Z{{Score: float64(exp), Member: e.member()}}}).Err(); err != nil {
		t.log.Warn("scheduling the sweep of a new session", "session", e.id, "err", err)
	}
	in := &Info{
		ID: e.id, Owner: spec.Owner, TID: spec.TID, State: StateOpen,
		Created: time.UnixMilli(now), LastAccess: time.UnixMilli(now), IdleTimeout: spec.IdleTimeout,
		Expires: time.UnixMilli(exp),
	}
	if spec.Lifetime > 0 {
		in.Deadline = time.UnixMilli(now + spec.Lifetime.Milliseconds())
	}
	return in, nil
}

// reserve counts session id against owner's quota, pruning the owner's
// index of sessions that ended (and were not swept yet) when it is full.
func (t *Table) reserve(ctx context.Context, id, owner string) error {
	max := t.cfg.MaxSessionsPerOwner
	for pruned := false; ; pruned = true {
		r, err := reserveScript.Run(ctx, t.rdb, []string{keys.Owner(owner)}, id, max).Slice()
		if err != nil {
			return fmt.Errorf("creating session: counting it against its owner: %w", err)
		}
		if word(r[0]) == verdictOK {
			return nil
		}
		if pruned {
			return fmt.Errorf("owner %q has %d open sessions, the most allowed: %w", owner, num(r[2]), ErrQuota)
		}
		if err := t.pruneOwner(ctx, owner, num(r[1])); err != nil {
			return err
		}
	}
}

// pruneOwner drops from owner's index the sessions that have no record and
// began more than the creation grace before now (server ms): their creation
// cannot succeed any more, so they are dead.
func (t *Table) pruneOwner(ctx context.Context, owner string, now int64) error {
	ids, err := t.rdb.ZRangeByScore(ctx, keys.Owner(owner), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now-t.grace.Milliseconds(), 10),
	}).Result()
	if err != nil {
		return fmt.Errorf("creating session: reading the owner's sessions: %w", err)
	}
	for _, id := range ids {
		n, err := t.rdb.Exists(ctx, keys.Session(id)).Result()
		if err != nil {
			return fmt.Errorf("creating session: reading the owner's sessions: %w", err)
		}
		if n == 0 {
			if err := t.rdb.ZRem(ctx, keys.Owner(owner), id).Err(); err != nil {
				return fmt.Errorf("creating session: pruning the owner's sessions: %w", err)
			}
		}
	}
	return nil
}

// claimTID binds tid, in owner's namespace, to session id: taking it when
// free or bound to a dead session (buried first, so that it can never come alive), or bound
// to a live one, or one being created, when replace is set. Every swap is a
// compare-and-swap on what was seen, so of concurrent claimants at most one
// wins; the others find it live or pending and fail with ErrTIDTaken.
func (t *Table) claimTID(ctx context.Context, owner, tid, id string, replace bool) error {
	seen := ""
	for range 5 {
		r, err := tidScript.Run(ctx, t.rdb, []string{keys.TID(owner, tid)}, "claim", id, seen).Slice()
		if err != nil {
			return fmt.Errorf("claiming TID %q: %w", tid, err)
		}
		if word(r[0]) == verdictOK {
			return nil
		}
		seen = str(r[1])
		if seen == "" {
			continue // released meanwhile
		}
		st, err := t.bury(ctx, seen, tid, replace)
		if err != nil {
			return fmt.Errorf("claiming TID %q: %w", tid, err)
		}
		switch {
		case st == verdictLive && !replace:
			return fmt.Errorf("TID %q (session %s): %w", tid, seen, ErrTIDTaken)
		case st == verdictPend:
			return fmt.Errorf("TID %q (session %s, being created): %w", tid, seen, ErrTIDTaken)
		}
	}
	return fmt.Errorf("claiming TID %q: %w (contended; try again)", tid, ErrTIDTaken)
}

// bury says whether session id, found bound to tid, is live, being created
// or dead, and makes a dead one stay dead; see bury.lua.
func (t *Table) bury(ctx context.Context, id, tid string, force bool) (verdict, error) {
	if ValidateID(id) != nil {
		return verdictDead, nil // not ours: never a record
	}
	st, err := buryScript.Run(ctx, t.rdb, []string{keys.Session(id), keys.SessionMarker(id)},
		tid, t.grace.Milliseconds(), flag(force)).Text()
	if err != nil {
		return "", fmt.Errorf("checking session %s: %w", id, err)
	}
	return verdict(st), nil
}

// Establish is the establish-session step of a client: with create, a new
// session as Create(spec) makes it (bound to spec.TID when given); without,
// the live session of spec.Owner bound to spec.TID, as Lookup finds it:
// ErrTIDRequired when spec.TID is empty, ErrNotFound when no live session
// is bound to it.
func (t *Table) Establish(ctx context.Context, create bool, spec Spec) (*Info, error) {
	if create {
		return t.Create(ctx, spec)
	}
	if spec.TID == "" {
		return nil, ErrTIDRequired
	}
	return t.Lookup(ctx, spec.Owner, spec.TID)
}

// Lookup returns the live session that owner ("": DefaultOwner) bound to
// tid, refreshing its idle timer unless the call is out-of-session. TIDs
// are per owner: another owner's sessions are never found, and their TIDs
// neither collide with nor show through owner's. It fails with ErrNotFound
// when there is none.
func (t *Table) Lookup(ctx context.Context, owner, tid string, opts ...CallOption) (*Info, error) {
	if tid == "" {
		return nil, ErrTIDRequired
	}
	if owner == "" {
		owner = DefaultOwner
	}
	if err := ValidateOwner(owner); err != nil {
		return nil, err
	}
	if err := ValidateTID(tid); err != nil {
		return nil, err
	}
	id, err := t.rdb.Get(ctx, keys.TID(owner, tid)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, fmt.Errorf("TID %q: %w", tid, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("reading TID %q: %w", tid, err)
	}
	if ValidateID(id) != nil {
		return nil, fmt.Errorf("TID %q: %w", tid, ErrNotFound)
	}
	in, err := t.Get(ctx, id, opts...)
	if errors.Is(err, ErrNotFound) || err == nil && (in.TID != tid || in.Owner != owner) {
		return nil, fmt.Errorf("TID %q: %w", tid, ErrNotFound)
	}
	return in, err
}

// Get reads session id, refreshing its idle timer unless the call is
// out-of-session.
func (t *Table) Get(ctx context.Context, id string, opts ...CallOption) (*Info, error) {
	c, err := t.callOpts(id, opts)
	if err != nil {
		return nil, err
	}
	r, err := t.read(ctx, id, c, "info", "")
	if err != nil {
		return nil, err
	}
	return infoFromRecord(id, pairs(r[1:])), nil
}

// ListOptions select the sessions List returns.
type ListOptions struct {
	// Owner: only this owner's sessions. Default: every owner's.
	Owner string
	// Limit: at most this many. Default 1000.
	Limit int
}

// List returns open sessions, oldest first: an owner's, or, without one,
// the first Limit the index holds. It is administrative: it does not
// refresh their idle timers.
func (t *Table) List(ctx context.Context, o ListOptions) ([]*Info, error) {
	if o.Limit == 0 {
		o.Limit = 1000
	}
	if o.Limit < 0 {
		return nil, invalid("limit", strconv.Itoa(o.Limit), "must not be negative")
	}
	key := keys.Sessions
	if o.Owner != "" {
		if err := ValidateOwner(o.Owner); err != nil {
			return nil, err
		}
		key = keys.Owner(o.Owner)
	}
	const page = 200
	out := []*Info{}
	for start := int64(0); len(out) < o.Limit; start += page {
		ms, err := t.rdb.ZRange(ctx, key, start, start+page-1).Result()
		if err != nil {
			return nil, fmt.Errorf("listing sessions: %w", err)
		}
		ids := ms
		if o.Owner == "" {
			ids = make([]string, 0, len(ms))
			for _, m := range ms {
				if e, ok := parseEntry(m); ok {
					ids = append(ids, e.id)
				}
			}
		}
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		if _, err := t.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.HGetAll(ctx, keys.Session(id))
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("listing sessions: %w", err)
		}
		for i, c := range cmds {
			if m := c.Val(); len(m) > 0 && len(out) < o.Limit {
				out = append(out, infoFromRecord(ids[i], m))
			}
		}
		if len(ms) < page {
			break
		}
	}
	sortInfos(out)
	return out, nil
}

// Close ends session id at once, as its expiry would: its record, parameters,
// sub-sessions and files are deleted, its TID released, and a
// "session.closed" event emitted. Jobs still queued for it run inactive.
// It fails with ErrNotFound when there is no such open session.
func (t *Table) Close(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	v, err := t.rdb.HMGet(ctx, keys.Session(id), "own", "tid").Result()
	if err != nil {
		return fmt.Errorf("closing session %s: %w", id, err)
	}
	if v[0] == nil {
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	e := entry{id: id, owner: str(v[0]), tid: str(v[1])}
	// Due now: if this stops half-way, the next sweep finishes it.
	if err := t.rdb.ZAddArgs(ctx, keys.Sessions, redis.ZAddArgs{XX: true,
		Members: []redis.Z{{Score: 0, Member: e.member()}}}).Err(); err != nil {
		return fmt.Errorf("closing session %s: %w", id, err)
	}
	r, err := endScript.Run(ctx, t.rdb, endKeys(id), "close", keys.SessionAppPrefix(id), t.grace.Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("closing session %s: %w", id, err)
	}
	if num(r[1]) == 0 {
		return fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	return t.settle(ctx, e, "closed")
}

func endKeys(id string) []string {
	return []string{keys.Session(id), keys.SessionParams(id), keys.SessionApps(id), keys.SessionMarker(id)}
}

// settle removes what an ended session left outside its slot: its files,
// TID binding, owner index entry and, last, its sweep index entry. Whoever
// removes the sweep index entry emits the event, so a session that a Close
// and a sweep settle at once gets one event. A crash before the last step
// leaves the entry due, and the sweep settles it again.
func (t *Table) settle(ctx context.Context, e entry, how string) error {
	if err := t.store.Purge(ctx, e.id); err != nil {
		return fmt.Errorf("purging files of session %s: %w", e.id, err)
	}
	if e.tid != "" {
		if err := tidScript.Run(ctx, t.rdb, []string{keys.TID(e.owner, e.tid)}, "release", e.id).Err(); err != nil {
			return fmt.Errorf("releasing TID of session %s: %w", e.id, err)
		}
	}
	if err := t.rdb.ZRem(ctx, keys.Owner(e.owner), e.id).Err(); err != nil {
		return fmt.Errorf("removing session %s from its owner: %w", e.id, err)
	}
	n, err := t.rdb.ZRem(ctx, keys.Sessions, e.member()).Result()
	if err != nil {
		return fmt.Errorf("removing session %s from the index: %w", e.id, err)
	}
	if n == 0 {
		return nil
	}
	typ := "session." + how
	err = t.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: keys.Events, MaxLen: t.cfg.EventsMaxLen, Approx: true,
		Values: []any{"type", typ, "session", e.id, "owner", e.owner, "tid", e.tid},
	}).Err()
	t.log.Info(typ, "session", e.id, "owner", e.owner, "tid", e.tid)
	if err != nil {
		return fmt.Errorf("emitting %s event: %w", typ, err)
	}
	return nil
}

// CallOption qualifies one call on a session.
type CallOption func(*call)

type call struct {
	app string
	oos bool
}

// Application makes the call work on sub-session app of the session: its
// parameters, falling back to the session's when reading.
func Application(app string) CallOption { return func(c *call) { c.app = app } }

// OutOfSession makes the call leave the session's idle timer alone.
func OutOfSession() CallOption { return func(c *call) { c.oos = true } }

func (t *Table) callOpts(id string, opts []CallOption) (call, error) {
	var c call
	for _, o := range opts {
		o(&c)
	}
	if err := ValidateID(id); err != nil {
		return c, err
	}
	if c.app != "" {
		if err := ValidateApplicationID(c.app); err != nil {
			return c, err
		}
	}
	return c, nil
}

// read runs read.lua; see its contract. A missing record is ErrNotFound.
func (t *Table) read(ctx context.Context, id string, c call, what, key string) ([]any, error) {
	app := keys.SessionParams(id)
	if c.app != "" {
		app = keys.SessionAppParams(id, c.app)
	}
	r, err := readScript.Run(ctx, t.rdb,
		[]string{keys.Session(id), keys.SessionParams(id), app, ledger.BacklogKey(id)},
		flag(!c.oos), what, key).Slice()
	if err != nil {
		return nil, fmt.Errorf("reading session %s: %w", id, err)
	}
	if num(r[0]) == 0 {
		return r, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	return r, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func sortInfos(l []*Info) {
	slices.SortFunc(l, func(a, b *Info) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
}
