package jobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
)

// ErrNotFound means no job has that ID (or its record outlived its retention).
var ErrNotFound = errors.New("jobs: not found")

// Defaults of ClientConfig.
const (
	DefaultQueue     = "default"
	DefaultMaxRetry  = 3
	DefaultTimeout   = 30 * time.Minute
	DefaultRetention = 24 * time.Hour
	// indexTTL bounds how long the ID index of a job is kept when the worker
	// that finished it could not shorten it to the retention.
	indexTTL = 30 * 24 * time.Hour
)

// ClientConfig configures a Client. The zero value is usable.
type ClientConfig struct {
	// MaxPayload is the largest payload accepted, in bytes. Default 1 MiB.
	MaxPayload int
	// Retention is how long a finished plain job stays readable by Get.
	// Session jobs are kept as long as the worker's Retention says.
	// Default 24h; negative: a finished plain job is deleted at once (a
	// little cheaper, but Get then says it is not found, and `submit
	// --wait` cannot tell how it ended).
	Retention time.Duration
	// MaxBacklog caps the unfinished jobs of one session, the new one
	// included; a submit beyond it fails with a BacklogFullError and writes
	// nothing (the MaxBacklog option overrides it per submit). Default
	// DefaultMaxBacklog (100,000); there is no unlimited.
	MaxBacklog int
}

func (c *ClientConfig) withDefaults() (ClientConfig, error) {
	out := *c
	if out.MaxPayload == 0 {
		out.MaxPayload = DefaultMaxPayload
	}
	if out.Retention == 0 {
		out.Retention = DefaultRetention
	}
	if out.MaxBacklog == 0 {
		out.MaxBacklog = DefaultMaxBacklog
	}
	if out.MaxPayload < 0 {
		return out, fmt.Errorf("%w: MaxPayload %d is negative", ErrInvalid, out.MaxPayload)
	}
	if out.MaxBacklog < 0 {
		return out, fmt.Errorf("%w: MaxBacklog %d is negative", ErrInvalid, out.MaxBacklog)
	}
	return out, nil
}

// Client submits jobs and reads them back. It is safe for concurrent use.
type Client struct {
	rdb  redis.UniversalClient
	aq   *asynq.Client
	insp *asynq.Inspector
	led  *ledger.Ledger
	cfg  ClientConfig
}

// NewClient returns a Client on rdb. Close releases what it holds, but not
// rdb, which stays the caller's.
func NewClient(rdb redis.UniversalClient, cfg ClientConfig) (*Client, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Client{
		rdb:  rdb,
		aq:   asynq.NewClientFromRedisClient(rdb),
		insp: asynq.NewInspectorFromRedisClient(rdb),
		led:  ledger.New(rdb),
		cfg:  c,
	}, nil
}

// Close releases the client. The Redis client passed to NewClient stays open.
func (c *Client) Close() error { return nil }

// Option configures one submission.
type Option func(*options)

type options struct {
	maxBacklog   int
	session      string
	app          string
	queue        string
	maxRetry     int
	timeout      time.Duration
	at           time.Time
	in           time.Duration
	idempotency  string
	owner        string
	policy       Policy
	outOfSession bool
	// set records which of session, app and idempotency an option gave,
	// so that an empty one is refused rather than read as "none".
	sessionSet, appSet, idempotencySet bool
}

// Session attaches the job to session id: it starts after every earlier job
// of that session ended, and never while another one runs. The ID need not
// name a session in the session table (the job then runs inactive). An
// empty ID is invalid: a job without a session is submitted without this
// option.
func Session(id string) Option {
	return func(o *options) { o.session, o.sessionSet = id, true }
}

// Application names the application sub-session of the job's session. An
// empty ID is invalid.
func Application(id string) Option { return func(o *options) { o.app, o.appSet = id, true } }

// Queue puts the job on a queue (default "default").
func Queue(name string) Option { return func(o *options) { o.queue = name } }

// MaxRetry sets how often a failing job is retried (default 3).
func MaxRetry(n int) Option { return func(o *options) { o.maxRetry = n } }

// Timeout bounds one run of the job (default 30m).
func Timeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// ProcessAt makes the job wait until t. A session job keeps its place: the
// jobs of its session behind it wait too.
func ProcessAt(t time.Time) Option { return func(o *options) { o.at = t } }

// ProcessIn is ProcessAt(now + d).
func ProcessIn(d time.Duration) Option { return func(o *options) { o.in = d } }

// IdempotencyKey makes the submission idempotent: the same key (in the
// same Owner's namespace) gives back the same job, never a second one. The
// key is bound to its first submit's kind (plain or session), session,
// queue and type: a reuse that asks for another fails with an
// IdempotencyConflictError and changes nothing. The binding is made first
// and lasts as long as the job can be found by its ID; a submit that fails
// after it (a crash, a full backlog) leaves the key bound to what it asked,
// so that the same submit, retried, completes. An empty key is invalid.
func IdempotencyKey(k string) Option {
	return func(o *options) { o.idempotency, o.idempotencySet = k, true }
}

// Owner names the owner whose namespace the idempotency key lives in: two
// owners choosing the same key get two jobs, never one. "" is the default
// namespace of Go and CLI callers. The gateway passes the acting user. A
// non-empty owner has the characters of a session ID.
func Owner(name string) Option { return func(o *options) { o.owner = name } }

// FailurePolicy sets what a failure of this session job does to the jobs
// behind it (default PolicyBlock).
func FailurePolicy(p Policy) Option { return func(o *options) { o.policy = p } }

// MaxBacklog caps the unfinished jobs of the job's session, this one
// included: a submit beyond it fails with a BacklogFullError and writes
// nothing but the binding of its idempotency key, if it has one (see
// IdempotencyKey). It overrides ClientConfig.MaxBacklog; 0 keeps it.
func MaxBacklog(n int) Option { return func(o *options) { o.maxBacklog = n } }

// OutOfSession marks the job so that submitting it does not refresh the
// session's inactivity timer.
func OutOfSession() Option { return func(o *options) { o.outOfSession = true } }

// Submitted is what Submit reports.
type Submitted struct {
	ID        string
	SessionID string
	Seq       int64 // sequence number in its session (session jobs)
	State     State
	Existing  bool // the idempotency key named a job submitted before
}

func (c *Client) check(jobType string, payload []byte, o *options) error {
	if err := ValidateType(jobType); err != nil {
		return err
	}
	if len(payload) > c.cfg.MaxPayload {
		return invalid("payload", fmt.Sprintf("%d bytes", len(payload)), fmt.Sprintf("larger than the %d byte limit", c.cfg.MaxPayload))
	}
	if o.sessionSet {
		if err := ValidateSessionID(o.session); err != nil {
			return err
		}
	}
	if o.appSet {
		if !o.sessionSet {
			return invalid("application ID", o.app, "needs a session ID")
		}
		if err := ValidateApplicationID(o.app); err != nil {
			return err
		}
	}
	if o.outOfSession && !o.sessionSet {
		return invalid("out-of-session flag", "true", "needs a session ID")
	}
	if err := ValidateQueue(o.queue); err != nil {
		return err
	}
	if o.maxBacklog < 0 {
		return invalid("max backlog", strconv.Itoa(o.maxBacklog), "must not be negative")
	}
	if o.maxBacklog > 0 && o.session == "" {
		return invalid("max backlog", strconv.Itoa(o.maxBacklog), "applies to a job with a session only")
	}
	if o.maxRetry < 0 || o.maxRetry > 1000 {
		return invalid("max retry", strconv.Itoa(o.maxRetry), "must be between 0 and 1000")
	}
	if o.timeout < 0 {
		return invalid("timeout", o.timeout.String(), "must not be negative")
	}
	if o.in < 0 {
		return invalid("process-in", o.in.String(), "must not be negative")
	}
	if o.policy != PolicyBlock && o.policy != PolicySkip {
		return invalid("failure policy", string(o.policy), `must be "block" or "skip"`)
	}
	if o.idempotencySet {
		if err := ValidateJobID(o.idempotency); err != nil {
			return err
		}
	}
	if o.owner != "" {
		if err := checkID("owner", o.owner, MaxIDLen, idChar); err != nil {
			return err
		}
	}
	return nil
}

// Submit validates and enqueues a job. Invalid input returns an error
// wrapping ErrInvalid and writes nothing; an idempotency key bound to
// another kind of job, session, queue or type returns an
// IdempotencyConflictError and writes nothing. Once Submit returns without
// error the job is durable in Redis and will run (or end in the
// dead-letter set).
func (c *Client) Submit(ctx context.Context, jobType string, payload []byte, opts ...Option) (Submitted, error) {
	o := options{queue: DefaultQueue, maxRetry: DefaultMaxRetry, timeout: DefaultTimeout, policy: PolicyBlock}
	for _, f := range opts {
		f(&o)
	}
	if err := c.check(jobType, payload, &o); err != nil {
		return Submitted{}, err
	}
	if o.in > 0 {
		o.at = time.Now().Add(o.in)
	}
	id := newID(o.owner, o.idempotency)
	if o.idempotency != "" {
		// Before anything is enqueued: a key names one kind of job, in one
		// session and queue, so its ID never reaches two of them.
		if err := c.bind(ctx, id, jobType, &o); err != nil {
			return Submitted{}, err
		}
	}
	if o.session == "" {
		return c.submitPlain(ctx, id, jobType, payload, &o)
	}
	return c.submitSession(ctx, id, jobType, payload, &o)
}

func (c *Client) submitPlain(ctx context.Context, id, jobType string, payload []byte, o *options) (Submitted, error) {
	aopts := []asynq.Option{asynq.TaskID(id), asynq.Queue(o.queue), asynq.MaxRetry(dispatch.PlainAsynqRetry(o.maxRetry)), asynq.Timeout(o.timeout)}
	if c.cfg.Retention > 0 {
		aopts = append(aopts, asynq.Retention(c.cfg.Retention))
	}
	if !o.at.IsZero() {
		aopts = append(aopts, asynq.ProcessAt(o.at))
	}
	task := asynq.NewTaskWithHeaders(jobType, payload, dispatch.PlainHeaders(time.Now(), o.maxRetry))
	info, err := c.aq.EnqueueContext(ctx, task, aopts...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return Submitted{ID: id, Existing: true}, nil
	case err != nil:
		return Submitted{}, fmt.Errorf("enqueueing job: %w", err)
	}
	return Submitted{ID: id, State: stateFromAsynq(info.State)}, nil
}

func (c *Client) submitSession(ctx context.Context, id, jobType string, payload []byte, o *options) (Submitted, error) {
	job := ledger.Job{
		Type: jobType, Payload: payload, Queue: o.queue, MaxRetry: int64(o.maxRetry), Timeout: o.timeout,
		Policy: string(o.policy), AppID: o.app, OutOfSession: o.outOfSession, ProcessAt: o.at,
	}
	maxBacklog := int64(c.cfg.MaxBacklog)
	if o.maxBacklog > 0 {
		maxBacklog = int64(o.maxBacklog)
	}
	res, err := c.led.Submit(ctx, o.session, id, job, ledger.SubmitOptions{IndexTTL: indexTTL, MaxBacklog: maxBacklog})
	if err != nil {
		return Submitted{}, fmt.Errorf("submitting to session %s: %w", o.session, err)
	}
	if res.Verdict == ledger.Full {
		// The key stays bound to what was asked, as after a crash: a
		// concurrent submit of the same job may have got in meanwhile
		// (and the ledger removed the ID index it shares with this one),
		// so only the binding is sure to keep the key.
		return Submitted{}, fmt.Errorf("submitting to session %s: %w", o.session, &BacklogFullError{Session: o.session, Backlog: res.Seq, Max: maxBacklog})
	}
	out := Submitted{ID: id, SessionID: o.session, Seq: res.Seq, State: State(res.State), Existing: res.Verdict == ledger.Exists}
	gen := res.Gen
	if res.Verdict == ledger.Parked || gen == 0 || State(res.State) != StatePending {
		return out, nil
	}
	// The job heads an idle session (or is an idempotent repeat of one that
	// did): hand it to asynq. If this fails the job is still durable, and the
	// reconciler dispatches it, so the submission stands.
	t := &ledger.Task{Session: o.session, ID: id, Type: jobType, Gen: gen, Queue: o.queue, At: o.at}
	_ = dispatch.Enqueue(ctx, c.aq, t)
	return out, nil
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random job ID, or one derived from an idempotency key in
// owner's namespace ("" the default one, whose IDs are derived from the key
// alone). Keys and owners never hold a NUL byte, so two (owner, key) pairs
// never hash the same input.
func newID(owner, idem string) string {
	if idem != "" {
		in := "sessionq-idempotency:" + idem
		if owner != "" {
			in = "sessionq-idempotency:" + owner + "\x00" + idem
		}
		sum := sha256.Sum256([]byte(in))
		return "k" + b32.EncodeToString(sum[:16])
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "j" + b32.EncodeToString(b[:])
}

// ErrRunning means a running plain job was not taken off its worker when
// cancelled.
var ErrRunning = errors.New("jobs: job is running")

// Cancel cancels job id. A waiting job (parked, pending, retrying) ends
// cancelled at once and its session goes on; a running session job is
// cancelled at its worker's next lease renewal (within a third of the
// lease): its handler's context is cancelled and the job ends cancelled. A
// running plain job has its handler's context cancelled at once (asynq's
// CancelProcessing); Cancel waits up to CancelWait for asynq to take it off
// its worker, then deletes it so that it is not retried (ErrRunning when its
// worker did not answer). Cancelling a job that has ended changes nothing
// and returns its state.
func (c *Client) Cancel(ctx context.Context, id string) (State, error) {
	if err := ValidateJobID(id); err != nil {
		return "", err
	}
	s, ok, err := c.led.SessionOf(ctx, id)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return c.cancelPlain(ctx, id)
	}
	r, err := c.led.Cancel(ctx, s, id, c.cfg.Retention)
	if err != nil {
		return "", fmt.Errorf("cancelling job %s: %w", id, err)
	}
	switch r.Verdict {
	case ledger.Gone:
		return "", fmt.Errorf("job %s: %w", id, ErrNotFound)
	case ledger.Done:
		return State(r.State), nil
	case ledger.Requested:
		return StateRunning, nil
	}
	if r.Next != nil {
		_ = dispatch.Enqueue(ctx, c.aq, r.Next) // the reconciler repairs a failure
	}
	return StateCancelled, nil
}

func (c *Client) cancelPlain(ctx context.Context, id string) (State, error) {
	in, err := c.getPlain(ctx, id)
	if err != nil {
		return "", err
	}
	switch {
	case in.State.Terminal():
		return in.State, nil
	case in.State == StateRunning:
		return c.cancelRunningPlain(ctx, in)
	}
	if err := c.insp.DeleteTask(in.Queue, id); err != nil {
		return "", fmt.Errorf("cancelling job %s: %w", id, err)
	}
	return StateCancelled, nil
}

// Get reads job id. It returns an error wrapping ErrNotFound when there is
// no such job.
func (c *Client) Get(ctx context.Context, id string) (*Info, error) {
	if err := ValidateJobID(id); err != nil {
		return nil, err
	}
	s, ok, err := c.led.SessionOf(ctx, id)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		in, err := c.getPlain(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := c.handlerState(ctx, in); err != nil {
			return nil, err
		}
		return in, nil
	}
	r, err := c.led.Record(ctx, s, id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	in := infoFromRecord(r)
	if err := c.handlerState(ctx, in); err != nil {
		return nil, err
	}
	return in, nil
}

// infoFromRecord is the Info of a session job's ledger record.
func infoFromRecord(r *ledger.Record) *Info {
	in := &Info{
		ID: r.ID, Type: r.Type, Queue: r.Queue, SessionID: r.Session, AppID: r.AppID,
		Seq: r.Seq, State: State(r.State), Policy: Policy(r.Policy),
		Attempts: int(r.Attempts), MaxRetry: int(r.MaxRetry), LastError: r.LastError,
		Payload: r.Payload, Created: r.Created, Started: r.Started, Finished: r.Finished,
		FencingTok: r.Token, OutOfSession: r.OutOfSession, Worker: r.Worker,
		Progress: decodeProgress(string(r.Progress)), Result: r.Result,
	}
	if in.State == StateRetrying || in.State == StatePending {
		in.NextRunAt = r.ProcessAt
	}
	return in
}

// DeadLetters lists up to limit dead-lettered (failed) jobs, newest
// session jobs first, then the archived plain jobs of every queue. Entries
// whose records outlived their retention are left out.
func (c *Client) DeadLetters(ctx context.Context, limit int) ([]*Info, error) {
	if limit <= 0 {
		return nil, nil
	}
	dead, err := c.led.Dead(ctx, 0, int64(limit)-1)
	if err != nil {
		return nil, err
	}
	var out []*Info
	for _, d := range dead {
		r, err := c.led.Record(ctx, d.Session, d.ID)
		if err != nil {
			return nil, err
		}
		// A job requeued while its dead-letter entry was being written
		// leaves the entry behind: its record says what it is now.
		if r != nil && r.State == ledger.StateFailed {
			out = append(out, infoFromRecord(r))
		}
	}
	queues, err := c.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("listing queues: %w", err)
	}
	for _, q := range queues {
		if len(out) >= limit {
			break
		}
		tasks, err := c.insp.ListArchivedTasks(q, asynq.PageSize(limit-len(out)))
		if err != nil {
			return nil, fmt.Errorf("listing archived jobs of queue %s: %w", q, err)
		}
		for _, ti := range tasks {
			if _, session := ti.Headers[dispatch.HeaderJob]; session {
				continue // a session job's carrier: the ledger has the job
			}
			out = append(out, &Info{ID: ti.ID, Type: ti.Type, Queue: ti.Queue, State: StateFailed,
				Attempts: ti.Retried + 1, MaxRetry: dispatch.PlainMaxRetry(ti.Headers, ti.MaxRetry), LastError: ti.LastErr, Payload: ti.Payload, Finished: ti.LastFailedAt})
		}
	}
	return out, nil
}

func (c *Client) getPlain(ctx context.Context, id string) (*Info, error) {
	queues, err := c.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("listing queues: %w", err)
	}
	for _, q := range queues {
		ti, err := c.insp.GetTaskInfo(q, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading job %s in queue %s: %w", id, q, err)
		}
		in := plainInfo(ti)
		if v, err := c.rdb.Get(ctx, keys.Progress(id)).Result(); err == nil {
			in.Progress = decodeProgress(v)
		}
		return in, nil
	}
	return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
}

func stateFromAsynq(s asynq.TaskState) State {
	switch s {
	case asynq.TaskStateActive:
		return StateRunning
	case asynq.TaskStateRetry:
		return StateRetrying
	case asynq.TaskStateArchived:
		return StateFailed
	case asynq.TaskStateCompleted:
		return StateSucceeded
	default:
		return StatePending
	}
}
