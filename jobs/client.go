package jobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	// nothing (the MaxBacklog option overrides it per submit). Default 0:
	// no cap.
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

// IdempotencyKey makes the submission idempotent: the same key gives back
// the same job, never a second one. An empty key is invalid.
func IdempotencyKey(k string) Option {
	return func(o *options) { o.idempotency, o.idempotencySet = k, true }
}

// FailurePolicy sets what a failure of this session job does to the jobs
// behind it (default PolicyBlock).
func FailurePolicy(p Policy) Option { return func(o *options) { o.policy = p } }

// MaxBacklog caps the unfinished jobs of the job's session, this one
// included: a submit beyond it fails with a BacklogFullError and writes
// nothing. It overrides ClientConfig.MaxBacklog; 0 keeps it.
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
	return nil
}

// Submit validates and enqueues a job. Invalid input returns an error
// wrapping ErrInvalid and writes nothing. Once Submit returns without error
// the job is durable in Redis and will run (or end in the dead-letter set).
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
	id := newID(o.idempotency)
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
	if o.idempotency != "" {
		// The key may have been used with another session: its index says.
		s, err := c.rdb.Get(ctx, keys.JobIndex(id)).Result()
		switch {
		case err == nil && s != o.session:
			return Submitted{ID: id, SessionID: s, Existing: true}, nil
		case err != nil && !errors.Is(err, redis.Nil):
			return Submitted{}, fmt.Errorf("reading job index: %w", err)
		}
	}
	var pat int64
	if !o.at.IsZero() {
		pat = o.at.UnixMilli()
	}
	fields := []any{
		"id", id, "type", jobType, "payload", payload, "queue", o.queue, "sess", o.session,
		"maxr", o.maxRetry, "tmo", o.timeout.Milliseconds(), "policy", string(o.policy),
		"app", o.app, "oos", boolFlag(o.outOfSession), "pat", pat, "att", 0,
	}
	maxBacklog := int64(c.cfg.MaxBacklog)
	if o.maxBacklog > 0 {
		maxBacklog = int64(o.maxBacklog)
	}
	res, err := c.led.Submit(ctx, o.session, id, fields, ledger.SubmitOptions{
		OutOfSession: o.outOfSession, IndexTTL: indexTTL, MaxBacklog: maxBacklog,
	})
	if err != nil {
		return Submitted{}, fmt.Errorf("submitting to session %s: %w", o.session, err)
	}
	if res.Verdict == ledger.Full {
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
	t := &ledger.Task{Session: o.session, ID: id, Type: jobType, Gen: gen, Queue: o.queue}
	if pat > 0 {
		t.At = time.UnixMilli(pat)
	}
	_ = dispatch.Enqueue(ctx, c.aq, t)
	return out, nil
}

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random job ID, or one derived from an idempotency key.
func newID(idem string) string {
	if idem != "" {
		sum := sha256.Sum256([]byte("sessionq-idempotency:" + idem))
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
	s, err := c.rdb.Get(ctx, keys.JobIndex(id)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return c.cancelPlain(ctx, id)
	case err != nil:
		return "", fmt.Errorf("reading job index: %w", err)
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
	s, err := c.rdb.Get(ctx, keys.JobIndex(id)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		in, err := c.getPlain(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := c.handlerState(ctx, in); err != nil {
			return nil, err
		}
		return in, nil
	case err != nil:
		return nil, fmt.Errorf("reading job index: %w", err)
	}
	m, err := c.rdb.HGetAll(ctx, keys.Job(s, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	in := infoFromRecord(id, m)
	if err := c.handlerState(ctx, in); err != nil {
		return nil, err
	}
	return in, nil
}

func infoFromRecord(id string, m map[string]string) *Info {
	n := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
	t := func(k string) time.Time {
		if v := n(k); v > 0 {
			return time.UnixMilli(v)
		}
		return time.Time{}
	}
	in := &Info{
		ID: id, Type: m["type"], Queue: m["queue"], SessionID: m["sess"], AppID: m["app"],
		Seq: n("seq"), State: State(m["state"]), Policy: Policy(m["policy"]),
		Attempts: int(n("att")), MaxRetry: int(n("maxr")), LastError: m["err"],
		Payload: []byte(m["payload"]), Created: t("ct"), Started: t("st"), Finished: t("ft"),
		FencingTok: n("tok"), OutOfSession: m["oos"] == "1", Worker: m["wid"],
		Progress: decodeProgress(m["prog"]),
	}
	if r, ok := m["res"]; ok {
		in.Result = []byte(r)
	}
	if in.State == StateRetrying || in.State == StatePending {
		in.NextRunAt = t("pat")
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
	members, err := c.rdb.ZRevRange(ctx, keys.Dead, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("reading dead-letter index: %w", err)
	}
	var out []*Info
	for _, m := range members {
		s, id, ok := strings.Cut(m, "/")
		if !ok {
			continue
		}
		rec, err := c.rdb.HGetAll(ctx, keys.Job(s, id)).Result()
		if err != nil {
			return nil, fmt.Errorf("reading job %s: %w", id, err)
		}
		// A job requeued while its dead-letter entry was being written
		// leaves the entry behind: its record says what it is now.
		if len(rec) > 0 && rec["state"] == string(StateFailed) {
			out = append(out, infoFromRecord(id, rec))
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
