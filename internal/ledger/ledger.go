// Package ledger is the per-session run state of sessionq in Redis: the
// ordered list of a session's unfinished jobs, its lease with a fencing
// token, and the job records. Every change is one Lua script on the keys of
// one session (one hash tag, one Redis Cluster slot); the scripts are the
// files in lua/, each opening with its contract.
//
// The ledger never talks to asynq: it says what must be enqueued (a job ID
// and a dispatch generation, the asynq task ID being "ID:gen") and the
// caller does it. A task whose generation is not the record's is stale and
// dropped, so a repeated or repaired dispatch can never run a job twice.
package ledger

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/reply"
)

var (
	//go:embed lua/lib.lua
	libLua string
	//go:embed lua/submit.lua
	submitLua string
	//go:embed lua/acquire.lua
	acquireLua string
	//go:embed lua/renew.lua
	renewLua string
	//go:embed lua/finish.lua
	finishLua string
	//go:embed lua/release.lua
	releaseLua string
	//go:embed lua/inspect.lua
	inspectLua string
	//go:embed lua/redispatch.lua
	redispatchLua string
	//go:embed lua/cancel.lua
	cancelLua string
	//go:embed lua/due.lua
	dueLua string
	//go:embed lua/pause.lua
	pauseLua string
	//go:embed lua/requeue.lua
	requeueLua string
	//go:embed lua/progress.lua
	progressLua string
	//go:embed lua/deletedead.lua
	deleteDeadLua string

	submitScript     = script(submitLua)
	acquireScript    = script(acquireLua)
	renewScript      = script(renewLua)
	finishScript     = script(finishLua)
	releaseScript    = script(releaseLua)
	inspectScript    = script(inspectLua)
	redispatchScript = script(redispatchLua)
	cancelScript     = script(cancelLua)
	dueScript        = redis.NewScript(dueLua)
	pauseScript      = script(pauseLua)
	requeueScript    = script(requeueLua)
	progressScript   = script(progressLua)
	deleteDeadScript = redis.NewScript(deleteDeadLua)
)

// script builds a ledger script: its file, after the shared pieces of
// lib.lua.
func script(src string) *redis.Script { return redis.NewScript(libLua + "\n" + src) }

// DispatchGrace is how long a dispatched job may wait without an asynq task
// before the reconciler dispatches it again (scheduler.Config.DispatchGrace).
const DispatchGrace = 5 * time.Second

// FirstLook is when the repair index first looks at a session after a
// submit: soon, so that a shorter DispatchGrace is honoured too; a session
// still busy then is looked at again when it could next go wrong.
const FirstLook = time.Second

// Job states as stored in a record.
const (
	StatePending   = "pending"
	StateParked    = "parked"
	StateRunning   = "running"
	StateRetrying  = "retrying"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Verdict is a word a ledger script answers with: what it did or found
// (the first element of its reply), or what the caller must do next (the
// Next of Finish, Cancel, Pause and Requeue). Each script's contract, atop
// its file in lua/, lists the verdicts it returns; every one is a constant
// here (TestVerdictsAreDeclared).
type Verdict string

// Verdicts returned by the scripts.
const (
	Dispatch     Verdict = "dispatch"     // submit: enqueue the job now
	Parked       Verdict = "parked"       // submit: the job waits for its turn
	Exists       Verdict = "exists"       // submit: the record was there already
	Full         Verdict = "full"         // submit: the session's backlog is full
	OK           Verdict = "ok"           // acquire: the lease is taken
	Gone         Verdict = "gone"         // no such job (record expired or deleted)
	Done         Verdict = "done"         // the job had ended already
	Stale        Verdict = "stale"        // a generation or fencing token is not current
	Busy         Verdict = "busy"         // acquire: the job holds a live lease elsewhere
	Wait         Verdict = "wait"         // acquire: not the job's turn
	Paused       Verdict = "paused"       // acquire, pause: the session is paused
	Retry        Verdict = "retry"        // finish: the job runs again in place
	Finished     Verdict = "finished"     // finish: the job ended (FinishResult.State)
	Moved        Verdict = "moved"        // redispatch, skip: something moved since it was read
	Redispatched Verdict = "redispatched" // redispatch: enqueue the head again
	Resumed      Verdict = "resumed"      // pause: the session is resumed
	Running      Verdict = "running"      // skip: the head runs
	Requested    Verdict = "requested"    // cancel: the running job is asked to stop
	Cancelled    Verdict = "cancelled"    // cancel, skip: the job left its session
	Requeued     Verdict = "requeued"     // requeue: the job is back in its session
	NotDead      Verdict = "notdead"      // requeue, delete: the job did not fail
	Released     Verdict = "released"     // release: the lease is given back
	Deleted      Verdict = "deleted"      // delete: the dead job's record is gone
)

// What the caller must do next (the Next of a result).
const (
	None    Verdict = "none"    // nothing
	Enqueue Verdict = "enqueue" // enqueue the task the result carries
	Run     Verdict = "run"     // run the job the result carries: its lease is this worker's
)

// verdict reads a script's word.
func verdict(v any) Verdict { return Verdict(str(v)) }

// words reads the reply of script name: a list that starts with a verdict.
func words(cmd *redis.Cmd, name string) ([]any, error) {
	v, err := cmd.Slice()
	if err != nil {
		return nil, fmt.Errorf("running %s script: %w", name, err)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("%s: %w: empty", name, ErrUnexpectedReply)
	}
	return v, nil
}

// ErrUnexpectedReply means a script answered in a shape this code does not
// know: a version mismatch between scripts and code, or a bug.
var ErrUnexpectedReply = errors.New("ledger: unexpected script reply")

// Client is the part of a Redis client the ledger needs: scripts, a
// pipeline to send an index write with a script in one round trip, and the
// reads and writes of its keys outside scripts. EachSession needs a
// redis.Cmdable (or a *redis.ClusterClient) to scan.
type Client interface {
	redis.Scripter
	Pipeline() redis.Pipeliner
	ZRangeByScoreWithScores(ctx context.Context, key string, opt *redis.ZRangeBy) *redis.ZSliceCmd
	Del(ctx context.Context, keys ...string) *redis.IntCmd
	Get(ctx context.Context, key string) *redis.StringCmd
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
	HExists(ctx context.Context, key, field string) *redis.BoolCmd
	LIndex(ctx context.Context, key string, index int64) *redis.StringCmd
	ZRevRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd
	ZRemRangeByScore(ctx context.Context, key, min, max string) *redis.IntCmd
	ZRem(ctx context.Context, key string, members ...any) *redis.IntCmd
}

var _ Client = redis.UniversalClient(nil)

// Ledger runs the ledger scripts on a Redis client.
type Ledger struct {
	rdb   Client
	batch *batcher // nil: each call is its own round trip
}

// New returns a Ledger on rdb.
func New(rdb Client) *Ledger { return &Ledger{rdb: rdb} }

// Batched returns a Ledger on the same client that sends the calls its
// callers make at about the same time (the slots of a worker) in one
// pipeline: see BatchConfig. Each call keeps its script's atomicity and
// fencing checks, and a call that fails in a pipeline fails alone.
func (l *Ledger) Batched(cfg BatchConfig) *Ledger {
	return &Ledger{rdb: l.rdb, batch: newBatcher(l.rdb, cfg)}
}

// BatchQueued is the number of calls waiting to be sent by a batched
// Ledger.
func (l *Ledger) BatchQueued() int {
	if l.batch == nil {
		return 0
	}
	return l.batch.queued()
}

// BatchStats returns the pipelines a batched Ledger sent and the calls they
// carried (0, 0 when it does not batch).
func (l *Ledger) BatchStats() (pipelines, calls int64) {
	if l.batch == nil {
		return 0, 0
	}
	return l.batch.stats()
}

// Task is something the caller must enqueue on asynq: job ID of session
// Session, under generation Gen, on Queue, not before At (zero: now).
type Task struct {
	Session string
	ID      string
	Type    string
	Gen     int64
	Queue   string
	At      time.Time
}

// TaskID is the asynq task ID of this dispatch.
func (t Task) TaskID() string { return TaskID(t.ID, t.Gen) }

// TaskID is the asynq task ID of dispatch gen of job id.
func TaskID(id string, gen int64) string { return id + ":" + strconv.FormatInt(gen, 10) }

// SubmitResult is the outcome of Submit.
type SubmitResult struct {
	Verdict Verdict // Dispatch, Parked, Exists or Full
	State   string  // the record's state
	Seq     int64   // the job's sequence number in its session
	Gen     int64   // dispatch generation (Dispatch: 1)
}

// SubmitOptions are the submitter's side of Submit.
type SubmitOptions struct {
	IndexTTL   time.Duration // life of the job's ID index until the job ends
	MaxBacklog int64         // most unfinished jobs of the session, this one included (0: no cap)
}

// Submit appends job id, described by job, to session s.
// A session that holds opt.MaxBacklog unfinished jobs already refuses it
// (verdict Full, Seq the backlog) and keeps nothing of it.
// In the same round trip, and before the script, it writes the job's ID
// index (keys.JobIndex) with indexTTL, and puts the session in the repair
// index, due FirstLook from now: a crash between the writes leaves an
// index to nothing, or a session the reconciler looks at for nothing, never
// a job that cannot be found or a session that nothing repairs.
func (l *Ledger) Submit(ctx context.Context, s, id string, job Job, opt SubmitOptions) (SubmitResult, error) {
	args := append([]any{id, flag(job.OutOfSession), opt.MaxBacklog}, job.fields(s, id)...)
	var set *redis.StatusCmd
	var due *redis.FloatCmd
	cmd := l.piped(ctx, submitScript, sessionKeys(s, id), args, func(p redis.Pipeliner) {
		set = p.Set(ctx, keys.JobIndex(id), s, opt.IndexTTL)
		dueLT(ctx, p, s, time.Now().Add(FirstLook))
		// The score always changes, so that a reconciler that saw the
		// session empty just before cannot remove the entry (its removal
		// compares the score it read).
		due = p.ZIncrBy(ctx, keys.DueOf(s), -dueNudge, s)
	})
	if err := set.Err(); err != nil {
		return SubmitResult{}, fmt.Errorf("writing job index: %w", err)
	}
	if err := due.Err(); err != nil {
		return SubmitResult{}, fmt.Errorf("writing repair index: %w", err)
	}
	v, err := cmd.Slice()
	if err != nil {
		return SubmitResult{}, fmt.Errorf("running submit script: %w", err)
	}
	if len(v) != 4 {
		return SubmitResult{}, fmt.Errorf("submit: %w: %v", ErrUnexpectedReply, v)
	}
	r := SubmitResult{Verdict: verdict(v[0]), State: str(v[1]), Seq: num(v[2]), Gen: num(v[3])}
	if r.Verdict == Full {
		// Nothing of the job is kept: not even the index written beside.
		if err := l.rdb.Del(ctx, keys.JobIndex(id)).Err(); err != nil {
			return r, fmt.Errorf("removing the index of a refused job: %w", err)
		}
	}
	return r, nil
}

// piped runs sc in one pipeline after the commands pre adds, falling back
// from EVALSHA to EVAL (and so sending pre's commands again: they must be
// idempotent) when Redis does not know the script.
func (l *Ledger) piped(ctx context.Context, sc *redis.Script, k []string, args []any, pre func(redis.Pipeliner)) *redis.Cmd {
	if pre == nil {
		pre = func(redis.Pipeliner) {}
	}
	send := func(eval bool) *redis.Cmd {
		p := l.rdb.Pipeline()
		pre(p)
		var cmd *redis.Cmd
		if eval {
			cmd = sc.Eval(ctx, p, k, args...)
		} else {
			cmd = sc.EvalSha(ctx, p, k, args...)
		}
		_, _ = p.Exec(ctx)
		return cmd
	}
	var cmd *redis.Cmd
	if l.batch == nil {
		cmd = send(false)
	} else if err := l.batch.do(ctx, func(p redis.Pipeliner) {
		pre(p)
		cmd = sc.EvalSha(ctx, p, k, args...)
	}); err != nil {
		// Never sent: the riders' commands exist (unsent, no error) so
		// that the caller can read them; the script's carries err.
		pre(l.rdb.Pipeline())
		cmd = redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	if cmd.Err() != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// Redis does not know the script (restarted, flushed): this call
		// alone goes again with EVAL, its riders with it.
		cmd = send(true)
	}
	return cmd
}

// dueLT adds to p: look at session s at t at the latest (ZADD LT keeps an
// earlier time already there).
func dueLT(ctx context.Context, p redis.Pipeliner, s string, t time.Time) {
	p.ZAddArgs(ctx, keys.DueOf(s), redis.ZAddArgs{LT: true, Members: []redis.Z{{Score: DueScore(t), Member: s}}})
}

// dueNudge is what a submit takes off its session's repair-index score
// (ms): a change that the score's precision keeps.
const dueNudge = 0.001

// DueScore is the repair-index score of time t: its milliseconds, plus a
// random fraction of one, so that the reconciler's compare-and-set on a
// score it read tells apart two writes in the same millisecond.
func DueScore(t time.Time) float64 {
	return float64(t.UnixMilli()) + mrand.Float64()*0.999
}

// RunJob is a job the caller now holds the lease for.
type RunJob struct {
	Session   string
	ID        string
	Token     int64
	Attempt   int64
	Type      string
	Payload   []byte
	Queue     string
	MaxRetry  int64
	Timeout   time.Duration
	Policy    string
	AppID     string
	OutOfSess bool
	Seq       int64
	Active    bool  // the session record exists
	Backlog   int64 // the session's unfinished jobs, this one included
	// Created is when the job was submitted (Redis time).
	Created time.Time
	// Sent is when the request that took the lease was sent: the lease
	// runs until Sent + the lease duration at least, by the holder's clock.
	Sent time.Time
	// Committed is the token of an earlier run that wrote the job's
	// session changes and result back but did not finish it (its worker
	// died or stalled), or 0. Such a job must not run again: finish it with
	// Outcome.Committed.
	Committed int64
}

func parseRun(s, id string, v []any) (*RunJob, error) {
	if len(v) != 15 {
		return nil, fmt.Errorf("run reply: %w: %v", ErrUnexpectedReply, v)
	}
	return &RunJob{
		Session:   s,
		ID:        id,
		Token:     num(v[0]),
		Attempt:   num(v[1]),
		Type:      str(v[2]),
		Payload:   []byte(str(v[3])),
		Queue:     str(v[4]),
		MaxRetry:  num(v[5]),
		Timeout:   time.Duration(num(v[6])) * time.Millisecond,
		Policy:    str(v[7]),
		AppID:     str(v[8]),
		OutOfSess: str(v[9]) == "1",
		Seq:       num(v[10]),
		Active:    num(v[11]) == 1,
		Backlog:   num(v[12]),
		Committed: num(v[13]),
		Created:   ms(num(v[14])),
	}, nil
}

// AcquireResult is the outcome of Acquire: Verdict OK with Job set, or one
// of Gone, Done, Stale, Busy, Wait (drop the task).
type AcquireResult struct {
	Verdict Verdict
	Job     *RunJob
}

// Acquire takes the lease of session s for dispatch gen of job id.
func (l *Ledger) Acquire(ctx context.Context, s, id string, gen int64, worker string, lease time.Duration) (AcquireResult, error) {
	// The session is due in the repair index when this lease runs out, so
	// that a holder that dies is found in time.
	sent := time.Now()
	until := sent.Add(lease)
	v, err := words(l.piped(ctx, acquireScript, sessionKeys(s, id), []any{id, gen, worker, lease.Milliseconds()},
		func(p redis.Pipeliner) { dueLT(ctx, p, s, until) }), "acquire")
	if err != nil {
		return AcquireResult{}, err
	}
	r := AcquireResult{Verdict: verdict(v[0])}
	if r.Verdict == OK {
		r.Job, err = parseRun(s, id, v[1:])
		if err == nil {
			r.Job.Sent = sent
		}
	}
	return r, err
}

// Renewal is the outcome of Renew.
type Renewal int

// Renewal outcomes.
const (
	LeaseLost       Renewal = 0 // the lease is no longer held with the token
	LeaseRenewed    Renewal = 1
	CancelRequested Renewal = 2 // renewed, and the job was asked to cancel
)

// Renew extends the lease of job id held with token.
func (l *Ledger) Renew(ctx context.Context, s, id string, token int64, lease time.Duration) (Renewal, error) {
	n, err := l.piped(ctx, renewScript, []string{keys.Run(s), keys.Job(s, id)}, []any{id, token, lease.Milliseconds()}, nil).Int()
	if err != nil {
		return LeaseLost, fmt.Errorf("running renew script: %w", err)
	}
	return Renewal(n), nil
}

// Outcome is how a run ended, for Finish.
type Outcome struct {
	OK         bool          // success
	Committed  bool          // success of an earlier run that committed (RunJob.Committed)
	Cancelled  bool          // the job was asked to cancel and stopped
	Text       string        // result (success) or error text (failure)
	Final      bool          // failure must not be retried
	RetryDelay time.Duration // delay before a retry in place
}

// FinishOptions are the worker's side of Finish.
type FinishOptions struct {
	Worker    string
	Lease     time.Duration
	Retention time.Duration
	Inline    bool   // the worker may run the next job at once
	Queues    string // ",q1,q2," the worker serves
	// Types is ",t1,t2," the job types the worker handles: a next job of
	// another type is not run inline but dispatched, for a worker that
	// handles it. Empty: any type.
	Types string
}

// FinishResult is the outcome of Finish.
type FinishResult struct {
	Verdict Verdict // Stale (nothing changed), Retry or Finished
	State   string  // the job's state now: StateRetrying, or (Finished) StateSucceeded, StateFailed or StateCancelled
	Retry   *Task   // Verdict Retry: enqueue it
	Next    Verdict // Finished: None, Enqueue or Run
	Task    *Task   // Next Enqueue
	Run     *RunJob // Next Run: the lease is this worker's
}

// Finish ends the run of job id (session s) held with token.
func (l *Ledger) Finish(ctx context.Context, s, id string, token int64, o Outcome, opt FinishOptions) (FinishResult, error) {
	outcome := "fail"
	switch {
	case o.Committed:
		outcome = "committed"
	case o.OK:
		outcome = "ok"
	case o.Cancelled:
		outcome = "cancel"
	}
	// A next job run inline holds a new lease: due when it runs out.
	sent := time.Now()
	until := sent.Add(opt.Lease)
	v, err := words(l.piped(ctx, finishScript, sessionKeys(s, id), []any{
		id, token, outcome, o.Text, opt.Retention.Milliseconds(), keys.JobPrefix(s), opt.Worker,
		opt.Lease.Milliseconds(), flag(opt.Inline), opt.Queues, o.RetryDelay.Milliseconds(),
		opt.Retention.Milliseconds(), flag(o.Final), opt.Types,
	}, func(p redis.Pipeliner) { dueLT(ctx, p, s, until) }), "finish")
	if err != nil {
		return FinishResult{}, err
	}
	var r FinishResult
	r.Verdict = verdict(v[0])
	switch r.Verdict {
	case Stale:
		return r, nil
	case Retry:
		if len(v) != 5 {
			return r, fmt.Errorf("finish retry: %w: %v", ErrUnexpectedReply, v)
		}
		r.State = StateRetrying
		r.Retry = &Task{Session: s, ID: id, Gen: num(v[1]), Queue: str(v[2]), At: ms(num(v[3])), Type: str(v[4])}
		return r, nil
	}
	if r.Verdict != Finished || len(v) < 5 {
		return r, fmt.Errorf("finish: %w: %v", ErrUnexpectedReply, v)
	}
	r.State = str(v[1])
	l.counted(ctx, str(v[2]), r.State)
	r.Next = verdict(v[4])
	switch r.Next {
	case Enqueue:
		if len(v) != 10 {
			return r, fmt.Errorf("finish enqueue: %w: %v", ErrUnexpectedReply, v)
		}
		r.Task = &Task{Session: s, ID: str(v[5]), Gen: num(v[6]), Queue: str(v[7]), At: ms(num(v[8])), Type: str(v[9])}
	case Run:
		if len(v) < 6 {
			return r, fmt.Errorf("finish run: %w: %v", ErrUnexpectedReply, v)
		}
		r.Run, err = parseRun(s, str(v[5]), v[6:])
		if err == nil {
			r.Run.Sent = sent
		}
	}
	return r, err
}

// Release gives the lease of job id back without ending the job; the
// returned task must be enqueued. A nil task means the token was stale.
func (l *Ledger) Release(ctx context.Context, s, id string, token int64) (*Task, error) {
	v, err := l.piped(ctx, releaseScript, []string{keys.Run(s), keys.Pending(s), keys.Job(s, id)}, []any{id, token},
		func(p redis.Pipeliner) { dueLT(ctx, p, s, time.Now().Add(DispatchGrace)) }).Slice()
	if err != nil {
		return nil, fmt.Errorf("running release script: %w", err)
	}
	if len(v) == 1 && verdict(v[0]) == Stale {
		return nil, nil
	}
	if len(v) != 5 {
		return nil, fmt.Errorf("release: %w: %v", ErrUnexpectedReply, v)
	}
	return &Task{Session: s, ID: id, Gen: num(v[1]), Queue: str(v[2]), At: ms(num(v[3])), Type: str(v[4])}, nil
}

// CancelResult is the outcome of Cancel.
type CancelResult struct {
	Verdict Verdict // Gone, Done, Requested or Cancelled (Skip: Running, Moved too)
	State   string  // Done: the state the job had ended in
	Next    *Task   // Cancelled: the next job to enqueue, if any
}

// Cancel cancels job id of session s: at once when it waits, at its next
// lease renewal when it runs.
func (l *Ledger) Cancel(ctx context.Context, s, id string, retention time.Duration) (CancelResult, error) {
	return l.cancel(ctx, s, id, retention, "cancel")
}

// Skip dead-letters job id, the head of session s, on purpose (it ends
// failed) and moves the session on: verdict Cancelled with Next set as for
// Cancel, Running when the head runs (cancel it instead), Moved when id is
// not the head, Gone or Done as for Cancel. The caller enters it into the
// dead-letter index (DeadLetter).
func (l *Ledger) Skip(ctx context.Context, s, id string, retention time.Duration) (CancelResult, error) {
	return l.cancel(ctx, s, id, retention, "skip")
}

func (l *Ledger) cancel(ctx context.Context, s, id string, retention time.Duration, mode string) (CancelResult, error) {
	v, err := words(l.piped(ctx, cancelScript, []string{keys.Run(s), keys.Pending(s), keys.Job(s, id), keys.SessionEvents(s)},
		[]any{id, retention.Milliseconds(), keys.JobPrefix(s), mode},
		func(p redis.Pipeliner) { dueLT(ctx, p, s, time.Now().Add(DispatchGrace)) }), "cancel")
	if err != nil {
		return CancelResult{}, err
	}
	r := CancelResult{Verdict: verdict(v[0])}
	switch {
	case r.Verdict == Done && len(v) == 2:
		r.State = str(v[1])
	case r.Verdict == Cancelled && len(v) == 8 && verdict(v[1]) == Enqueue:
		r.Next = &Task{Session: s, ID: str(v[2]), Gen: num(v[3]), Queue: str(v[4]), At: ms(num(v[5])), Type: str(v[6])}
	}
	if r.Verdict == Cancelled {
		st := StateCancelled
		if mode == "skip" {
			st = StateFailed
		}
		l.counted(ctx, str(v[len(v)-1]), st)
	}
	return r, nil
}

// Snapshot is the run state of one session as the reconciler sees it.
type Snapshot struct {
	Session   string
	Now       time.Time // Redis server time
	Pending   int64
	Head      string
	LockJob   string
	LockToken string
	LockUntil time.Time
	State     string // head's state
	Gen       string // head's generation, as stored
	Paused    bool   // the session is paused
	Dispatch  time.Time
	Queue     string
	At        time.Time
}

// Inspect reads the run state of session s.
func (l *Ledger) Inspect(ctx context.Context, s string) (Snapshot, error) {
	v, err := inspectScript.Run(ctx, l.rdb, []string{keys.Run(s), keys.Pending(s)}, keys.JobPrefix(s)).Slice()
	if err != nil {
		return Snapshot{}, fmt.Errorf("running inspect script: %w", err)
	}
	return snapshot(s, v)
}

func snapshot(s string, v []any) (Snapshot, error) {
	if len(v) != 12 {
		return Snapshot{}, fmt.Errorf("inspect: %w: %v", ErrUnexpectedReply, v)
	}
	return Snapshot{
		Session: s, Now: ms(num(v[0])), Pending: num(v[1]), Head: str(v[2]),
		LockJob: str(v[3]), LockToken: str(v[4]), LockUntil: ms(num(v[5])),
		State: str(v[6]), Gen: str(v[7]), Dispatch: ms(num(v[8])), Queue: str(v[9]), At: ms(num(v[10])),
		Paused: str(v[11]) != "",
	}, nil
}

// Progress records the progress value v (JSON) of running job id of session
// s held with token; false when the token is not current (nothing written).
func (l *Ledger) Progress(ctx context.Context, s, id string, token int64, v []byte) (bool, error) {
	n, err := l.piped(ctx, progressScript, []string{keys.Run(s), keys.Job(s, id)}, []any{id, token, v}, nil).Int()
	if err != nil {
		return false, fmt.Errorf("running progress script: %w", err)
	}
	return n == 1, nil
}

// RequeueResult is the outcome of Requeue.
type RequeueResult struct {
	Verdict Verdict // Requeued, Gone, or NotDead (State: what it is)
	State   string
	Where   string // Requeued: "head" or "tail"
	Next    *Task  // Requeued and at the head of an idle session: enqueue it
}

// Requeue puts failed job id back into session s (requeue.lua): at the head
// when no later job of the session has started since, else at the tail. In
// the same round trip its ID index gets back the life of an unfinished job
// (indexTTL), it leaves the dead-letter index, and the session is due in the
// repair index.
func (l *Ledger) Requeue(ctx context.Context, s, id string, indexTTL time.Duration) (RequeueResult, error) {
	v, err := words(l.piped(ctx, requeueScript, []string{keys.Run(s), keys.Pending(s), keys.Job(s, id), keys.SessionEvents(s)}, []any{id},
		func(p redis.Pipeliner) {
			p.Expire(ctx, keys.JobIndex(id), indexTTL)
			p.ZRem(ctx, keys.Dead, deadMember(s, id))
			dueLT(ctx, p, s, time.Now().Add(FirstLook))
		}), "requeue")
	if err != nil {
		return RequeueResult{}, err
	}
	r := RequeueResult{Verdict: verdict(v[0])}
	switch {
	case r.Verdict == Gone:
	case r.Verdict == NotDead && len(v) == 2:
		r.State = str(v[1])
	case r.Verdict == Requeued && len(v) == 3:
		r.Where = str(v[1])
	case r.Verdict == Requeued && len(v) == 8:
		r.Where = str(v[1])
		r.Next = &Task{Session: s, ID: str(v[3]), Gen: num(v[4]), Queue: str(v[5]), Type: str(v[7])}
	default:
		return r, fmt.Errorf("requeue: %w: %v", ErrUnexpectedReply, v)
	}
	return r, nil
}

// Pause pauses session s (pause true) or resumes it. A resume returns the
// head job to enqueue when it waits with no lease, else nil.
func (l *Ledger) Pause(ctx context.Context, s string, pause bool, retention time.Duration) (*Task, error) {
	mode := "resume"
	if pause {
		mode = "pause"
	}
	v, err := l.piped(ctx, pauseScript, []string{keys.Run(s), keys.Pending(s)},
		[]any{mode, keys.JobPrefix(s), retention.Milliseconds()},
		func(p redis.Pipeliner) { dueLT(ctx, p, s, time.Now().Add(FirstLook)) }).Slice()
	if err != nil {
		return nil, fmt.Errorf("running pause script: %w", err)
	}
	switch {
	case len(v) == 1 && verdict(v[0]) == Paused:
		return nil, nil
	case len(v) == 2 && verdict(v[0]) == Resumed:
		return nil, nil
	case len(v) == 7 && verdict(v[0]) == Resumed && verdict(v[1]) == Enqueue:
		return &Task{Session: s, ID: str(v[2]), Gen: num(v[3]), Queue: str(v[4]), At: ms(num(v[5])), Type: str(v[6])}, nil
	}
	return nil, fmt.Errorf("pause: %w: %v", ErrUnexpectedReply, v)
}

// Redispatch dispatches the head of a session again if nothing moved since
// snap was taken: verdict Redispatched with the task to enqueue, else Moved
// or Gone and a nil task.
func (l *Ledger) Redispatch(ctx context.Context, snap Snapshot) (Verdict, *Task, error) {
	s := snap.Session
	v, err := words(redispatchScript.Run(ctx, l.rdb, []string{keys.Run(s), keys.Pending(s), keys.Job(s, snap.Head)},
		snap.Head, snap.Gen, snap.LockToken), "redispatch")
	if err != nil {
		return "", nil, err
	}
	vd := verdict(v[0])
	if vd != Redispatched {
		return vd, nil, nil
	}
	if len(v) != 5 {
		return "", nil, fmt.Errorf("redispatch: %w: %v", ErrUnexpectedReply, v)
	}
	return vd, &Task{Session: s, ID: snap.Head, Gen: num(v[1]), Queue: str(v[2]), At: ms(num(v[3])), Type: str(v[4])}, nil
}

// sessionKeys are KEYS[1..5] of the scripts that work on one job.
func sessionKeys(s, id string) []string {
	return []string{keys.Run(s), keys.Pending(s), keys.Job(s, id), keys.Session(s), keys.SessionEvents(s)}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// str and num read script replies.
var (
	str = reply.Str
	num = reply.Num
)

func ms(n int64) time.Time {
	if n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}
