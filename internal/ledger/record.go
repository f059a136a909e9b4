package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
)

// Fields of a job record (keys.Job), as the scripts in lua/ and this file
// name them. No other package names them: they read a record through
// ParseRecord and write one through Submit.
const (
	fID        = "id"
	fType      = "type"
	fPayload   = "payload"
	fQueue     = "queue"
	fSession   = "sess"
	fMaxRetry  = "maxr"
	fTimeout   = "tmo"
	fPolicy    = "policy"
	fApp       = "app"
	fOOS       = "oos"
	fProcessAt = "pat"
	fAttempts  = "att"
	fSeq       = "seq"
	fState     = "state"
	fGen       = "gen"
	fCreated   = "ct"
	fStarted   = "st"
	fFinished  = "ft"
	fError     = "err"
	fResult    = "res"
	fToken     = "tok"
	fWorker    = "wid"
	fProgress  = "prog"
	fCommitted = "cmt"
	fCancel    = "cx"
)

// Fields of a session's run hash (keys.Run) read here.
const (
	rJob    = "job"
	rWorker = "wid"
	rUntil  = "until"
)

// Job is a session job as its submitter describes it: the part of its
// record Submit writes; the ledger adds its sequence number, state,
// generation and times.
type Job struct {
	Type         string
	Payload      []byte
	Queue        string
	MaxRetry     int64
	Timeout      time.Duration // one run's bound
	Policy       string        // failure policy: "block" or "skip"
	AppID        string        // application sub-session, "" none
	OutOfSession bool          // submitting it does not refresh the session's idle timer
	ProcessAt    time.Time     // not before (zero: now)
}

// fields are the record's field, value pairs Submit writes for job id of
// session s.
func (j Job) fields(s, id string) []any {
	var pat int64
	if !j.ProcessAt.IsZero() {
		pat = j.ProcessAt.UnixMilli()
	}
	return []any{
		fID, id, fType, j.Type, fPayload, j.Payload, fQueue, j.Queue, fSession, s,
		fMaxRetry, j.MaxRetry, fTimeout, j.Timeout.Milliseconds(), fPolicy, j.Policy,
		fApp, j.AppID, fOOS, flag(j.OutOfSession), fProcessAt, pat, fAttempts, 0,
	}
}

// Record is a job record as stored: the submitter's Job and what the
// ledger and the job's runs wrote since.
type Record struct {
	Job
	ID        string
	Session   string
	Seq       int64  // sequence number in its session
	State     string // one of the State constants
	Gen       int64  // dispatch generation
	Attempts  int64  // runs started (a released run is not counted)
	LastError string
	Result    []byte // nil when none was written
	Created   time.Time
	Started   time.Time // of the last run
	Finished  time.Time
	Token     int64  // fencing token of the last run
	Worker    string // worker of the last run
	Progress  []byte // the last progress reported (JSON), nil when none
	Committed int64  // token of a run that wrote its session changes back, 0 none
	// CancelRequested: the running job was asked to cancel (Cancel).
	CancelRequested bool
}

// ParseRecord reads the record of job id from its fields m (an HGETALL of
// keys.Job); nil when m is empty (no record).
func ParseRecord(id string, m map[string]string) *Record {
	if len(m) == 0 {
		return nil
	}
	n := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
	t := func(k string) time.Time { return ms(n(k)) }
	r := &Record{
		Job: Job{
			Type: m[fType], Payload: []byte(m[fPayload]), Queue: m[fQueue], MaxRetry: n(fMaxRetry),
			Timeout: time.Duration(n(fTimeout)) * time.Millisecond, Policy: m[fPolicy], AppID: m[fApp],
			OutOfSession: m[fOOS] == "1", ProcessAt: t(fProcessAt),
		},
		ID: id, Session: m[fSession], Seq: n(fSeq), State: m[fState], Gen: n(fGen),
		Attempts: n(fAttempts), LastError: m[fError], Created: t(fCreated), Started: t(fStarted),
		Finished: t(fFinished), Token: n(fToken), Worker: m[fWorker], Committed: n(fCommitted),
		CancelRequested: m[fCancel] == "1",
	}
	if v, ok := m[fResult]; ok {
		r.Result = []byte(v)
	}
	if v, ok := m[fProgress]; ok {
		r.Progress = []byte(v)
	}
	return r
}

// SessionOf reads the ID index: the session of job id, and false when no
// session job has that ID (a plain job, or none).
func (l *Ledger) SessionOf(ctx context.Context, id string) (string, bool, error) {
	s, err := l.rdb.Get(ctx, keys.JobIndex(id)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("reading job index: %w", err)
	}
	return s, true, nil
}

// Record reads the record of job id of session s; nil when there is none.
func (l *Ledger) Record(ctx context.Context, s, id string) (*Record, error) {
	m, err := l.rdb.HGetAll(ctx, keys.Job(s, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	return ParseRecord(id, m), nil
}

// Records reads the records of jobs ids of session s in one round trip, in
// the order of ids; a job without a record is left out.
func (l *Ledger) Records(ctx context.Context, s string, ids []string) ([]*Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	p := l.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = p.HGetAll(ctx, keys.Job(s, id))
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading jobs of session %s: %w", s, err)
	}
	out := make([]*Record, 0, len(ids))
	for i, cmd := range cmds {
		if r := ParseRecord(ids[i], cmd.Val()); r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// JobQueue is the state and queue of a job, as Queues reads them.
type JobQueue struct {
	ID    string
	State string
	Queue string
}

// Queues reads the state and queue of jobs ids of session s in one round
// trip (not their payloads); a job without a record is left out.
func (l *Ledger) Queues(ctx context.Context, s string, ids []string) ([]JobQueue, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	p := l.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = p.HMGet(ctx, keys.Job(s, id), fState, fQueue)
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading jobs of session %s: %w", s, err)
	}
	var out []JobQueue
	for i, cmd := range cmds {
		v := cmd.Val()
		if len(v) != 2 || v[0] == nil {
			continue
		}
		out = append(out, JobQueue{ID: ids[i], State: str(v[0]), Queue: str(v[1])})
	}
	return out, nil
}

// Backlog reads the unfinished jobs of session s in order, from index start
// to stop (inclusive; -1 is the last), and how many there are.
func (l *Ledger) Backlog(ctx context.Context, s string, start, stop int64) ([]string, int64, error) {
	p := l.rdb.Pipeline()
	n := p.LLen(ctx, keys.Pending(s))
	ids := p.LRange(ctx, keys.Pending(s), start, stop)
	if _, err := p.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("reading backlog of session %s: %w", s, err)
	}
	return ids.Val(), n.Val(), nil
}

// Head reads the first unfinished job of session s; false when it has none.
func (l *Ledger) Head(ctx context.Context, s string) (string, bool, error) {
	id, err := l.rdb.LIndex(ctx, keys.Pending(s), 0).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("reading head of session %s: %w", s, err)
	}
	return id, true, nil
}

// HasJobs says of each session of ss whether it has unfinished jobs, in one
// round trip. A session whose read failed counts as having some, so that a
// caller putting sessions back in the repair index errs on the safe side.
func (l *Ledger) HasJobs(ctx context.Context, ss []string) []bool {
	p := l.rdb.Pipeline()
	ex := make([]*redis.IntCmd, len(ss))
	for i, s := range ss {
		ex[i] = p.Exists(ctx, keys.Pending(s))
	}
	_, _ = p.Exec(ctx)
	out := make([]bool, len(ss))
	for i := range ss {
		out[i] = ex[i].Err() != nil || ex[i].Val() > 0
	}
	return out
}

// Leased says whether session s has a lease recorded, live or lapsed: a
// job of it runs, or ran and was not finished.
func (l *Ledger) Leased(ctx context.Context, s string) (bool, error) {
	ok, err := l.rdb.HExists(ctx, keys.Run(s), rJob).Result()
	if err != nil {
		return false, fmt.Errorf("reading run state of %s: %w", s, err)
	}
	return ok, nil
}

// RunState is a session's backlog and live lease at a glance.
type RunState struct {
	Backlog int64     // unfinished jobs
	Holder  string    // worker holding a live lease, "" when none
	Job     string    // the job it runs
	Until   time.Time // when the lease lapses unless renewed
}

// runsBatch is how many sessions Runs reads per round trip.
const runsBatch = 1000

// Runs reads the backlog and live lease of each session of ss, a lease
// being live until its end by Redis server time.
func (l *Ledger) Runs(ctx context.Context, ss []string) ([]RunState, error) {
	out := make([]RunState, len(ss))
	var now time.Time
	for start := 0; start < len(ss); start += runsBatch {
		end := min(start+runsBatch, len(ss))
		p := l.rdb.Pipeline()
		var t *redis.TimeCmd
		if start == 0 {
			t = p.Time(ctx)
		}
		lens := make([]*redis.IntCmd, end-start)
		runs := make([]*redis.SliceCmd, end-start)
		for i := start; i < end; i++ {
			lens[i-start] = p.LLen(ctx, keys.Pending(ss[i]))
			runs[i-start] = p.HMGet(ctx, keys.Run(ss[i]), rWorker, rJob, rUntil)
		}
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("reading run state: %w", err)
		}
		if t != nil {
			now = t.Val()
		}
		for i := start; i < end; i++ {
			out[i].Backlog = lens[i-start].Val()
			v := runs[i-start].Val()
			if len(v) != 3 {
				continue
			}
			until, _ := strconv.ParseInt(str(v[2]), 10, 64)
			if until > 0 && time.UnixMilli(until).After(now) {
				out[i].Holder, out[i].Job, out[i].Until = str(v[0]), str(v[1]), time.UnixMilli(until)
			}
		}
	}
	return out, nil
}

// JobRef names a session job.
type JobRef struct {
	Session string
	ID      string
}

// EachSession calls f for every session with unfinished jobs, scanning the
// keyspace count keys a step (every master of a Redis Cluster at once, but
// f is never called twice at once). A session may be seen twice, as SCAN
// goes.
func (l *Ledger) EachSession(ctx context.Context, count int64, f func(ctx context.Context, s string) error) error {
	var mu sync.Mutex
	scan := func(ctx context.Context, r redis.Cmdable) error {
		it := r.Scan(ctx, 0, keys.PendingPattern, count).Iterator()
		for it.Next(ctx) {
			s, ok := keys.SessionFromPending(it.Val())
			if !ok {
				continue
			}
			mu.Lock()
			err := f(ctx, s)
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("scanning sessions: %w", err)
		}
		return nil
	}
	switch c := l.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	case redis.Cmdable:
		return scan(ctx, c)
	}
	return fmt.Errorf("scanning sessions: %T cannot scan", l.rdb)
}

// KeySet names the Redis keys of a session job, for tools that measure
// them (the memory benchmark). Nothing but the ledger writes them.
type KeySet struct {
	Record  string // the job's record (hash)
	Index   string // its ID index (string)
	Pending string // its session's pending list
	Run     string // its session's run hash
}

// KeysOf returns the keys of job id of session s.
func KeysOf(s, id string) KeySet {
	return KeySet{Record: keys.Job(s, id), Index: keys.JobIndex(id), Pending: keys.Pending(s), Run: keys.Run(s)}
}

// LuaLib is lua/lib.lua: the functions the ledger's scripts share, for a
// script of another package that works on a session's keys and must stay
// one atomic step with the ledger's: the session table's scripts prepend
// it. Such a script calls, and never inlines:
//
//	now_ms()                Redis server time, ms
//	touch(rec, now)         the idle touch of session record rec
//	fenced(run, id, tok)    whether job id holds the lease with token tok
//	commit(rec, tok, res)   mark job record rec committed by token tok, with result res
//	backlog(pend)           the session's unfinished jobs
//
// with the keys WriteBackKeys and BacklogKey give.
var LuaLib = libLua

// WriteBackKeys are the keys a write-back under job id's lease (the session
// table's write.lua) passes to fenced and commit: the run hash of session s
// and the job's record.
func WriteBackKeys(s, id string) (run, rec string) { return keys.Run(s), keys.Job(s, id) }

// BacklogKey is the key whose backlog (LuaLib) is session s's.
func BacklogKey(s string) string { return keys.Pending(s) }

// IndexKey is the key of job id's ID index (its session's ID, a string),
// for a script of another package that must read it in the same atomic
// step as its own keys: the job client's idempotency binding (jobs'
// bind.lua) reads it, and writes nothing to it.
func IndexKey(id string) string { return keys.JobIndex(id) }

// HeadState is what the head of a session (its oldest unfinished job)
// waits for at a glance.
type HeadState struct {
	ID    string // "" when the session has no unfinished job
	Type  string
	Queue string
	State string // StatePending or StateRetrying: dispatched, for a worker to take
}

// Heads reads the head job of each session of ss: two round trips per
// thousand sessions, no scan.
func (l *Ledger) Heads(ctx context.Context, ss []string) ([]HeadState, error) {
	out := make([]HeadState, len(ss))
	for start := 0; start < len(ss); start += runsBatch {
		end := min(start+runsBatch, len(ss))
		p := l.rdb.Pipeline()
		heads := make([]*redis.StringCmd, end-start)
		for i := start; i < end; i++ {
			heads[i-start] = p.LIndex(ctx, keys.Pending(ss[i]), 0)
		}
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("reading session heads: %w", err)
		}
		p = l.rdb.Pipeline()
		recs := make([]*redis.SliceCmd, end-start)
		for i := start; i < end; i++ {
			if id := heads[i-start].Val(); id != "" {
				out[i].ID = id
				recs[i-start] = p.HMGet(ctx, keys.Job(ss[i], id), fType, fQueue, fState)
			}
		}
		if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("reading session heads: %w", err)
		}
		for i := start; i < end; i++ {
			if c := recs[i-start]; c != nil {
				if v := c.Val(); len(v) == 3 {
					out[i].Type, out[i].Queue, out[i].State = str(v[0]), str(v[1]), str(v[2])
				}
			}
		}
	}
	return out, nil
}
