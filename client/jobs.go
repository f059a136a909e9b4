package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"
)

// State is a job's state, as jobs.State.
type State string

// Job states.
const (
	StatePending   State = "pending"
	StateParked    State = "parked"
	StateRunning   State = "running"
	StateRetrying  State = "retrying"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
	// StateWaitingForHandler: no live worker handles the job's type; it
	// starts once one that does joins.
	StateWaitingForHandler State = "waiting_for_handler"
)

// Terminal reports whether the job has ended.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// Job is a job as the server shows it.
type Job struct {
	ID            string     `json:"id"`
	Type          string     `json:"type"`
	Queue         string     `json:"queue"`
	State         State      `json:"state"`
	SessionID     string     `json:"session_id,omitempty"`
	ApplicationID string     `json:"application_id,omitempty"`
	Seq           int64      `json:"seq,omitempty"`
	Policy        string     `json:"failure_policy,omitempty"`
	Attempts      int        `json:"attempts"`
	MaxRetry      int        `json:"max_retry"`
	LastError     string     `json:"last_error,omitempty"`
	Owner         string     `json:"owner,omitempty"`
	Created       *time.Time `json:"created,omitempty"`
	Started       *time.Time `json:"started,omitempty"`
	Finished      *time.Time `json:"finished,omitempty"`
	NextRunAt     *time.Time `json:"next_run_at,omitempty"`
	OutOfSession  bool       `json:"out_of_session,omitempty"`

	// Payload and Result are the job's bytes.
	Payload []byte `json:"-"`
	Result  []byte `json:"-"`
}

// UnmarshalJSON reads the server's text or base64 payload and result.
func (j *Job) UnmarshalJSON(b []byte) error {
	type plain Job
	var w struct {
		*plain
		Payload       *string `json:"payload"`
		PayloadBase64 *string `json:"payload_base64"`
		Result        *string `json:"result"`
		ResultBase64  *string `json:"result_base64"`
	}
	w.plain = (*plain)(j)
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var err error
	if j.Payload, err = bytesOf(w.Payload, w.PayloadBase64); err != nil {
		return err
	}
	j.Result, err = bytesOf(w.Result, w.ResultBase64)
	return err
}

// MarshalJSON writes the job as the server does: the payload and result
// as text when valid UTF-8, else base64.
func (j Job) MarshalJSON() ([]byte, error) {
	type plain Job
	w := struct {
		plain
		Payload       *string `json:"payload,omitempty"`
		PayloadBase64 *string `json:"payload_base64,omitempty"`
		Result        *string `json:"result,omitempty"`
		ResultBase64  *string `json:"result_base64,omitempty"`
	}{plain: plain(j)}
	w.Payload, w.PayloadBase64 = textOf(j.Payload)
	w.Result, w.ResultBase64 = textOf(j.Result)
	return json.Marshal(w)
}

func textOf(b []byte) (text, b64 *string) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

func bytesOf(text, b64 *string) ([]byte, error) {
	switch {
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		return base64.StdEncoding.DecodeString(*b64)
	}
	return nil, nil
}

// Submitted is what Submit answers.
type Submitted struct {
	ID        string `json:"id"`
	SessionID string `json:"session_id,omitempty"`
	Seq       int64  `json:"seq,omitempty"`
	State     State  `json:"state,omitempty"`
	Existing  bool   `json:"existing"`
	// Warning is set when no live worker handles the job's type: the job
	// waits until one that does joins.
	Warning string `json:"warning,omitempty"`
}

// SubmitOption configures Submit, as the options of jobs.Submit.
type SubmitOption func(*submitBody)

type submitBody struct {
	Type           string     `json:"type"`
	Payload        *string    `json:"payload,omitempty"`
	PayloadBase64  *string    `json:"payload_base64,omitempty"`
	Queue          string     `json:"queue,omitempty"`
	MaxRetry       *int       `json:"max_retry,omitempty"`
	Timeout        string     `json:"timeout,omitempty"`
	ProcessAt      *time.Time `json:"process_at,omitempty"`
	IdempotencyKey string     `json:"idempotency_key,omitempty"`
	FailurePolicy  string     `json:"failure_policy,omitempty"`
	processIn      time.Duration
	outOfSession   bool
	noSession      bool
}

// Queue submits to queue name. Default "default".
func Queue(name string) SubmitOption { return func(b *submitBody) { b.Queue = name } }

// MaxRetry sets how many times a failed job is retried. Default 3.
func MaxRetry(n int) SubmitOption { return func(b *submitBody) { b.MaxRetry = &n } }

// JobTimeout bounds one run of the job (jobs.Timeout). Default 30m.
func JobTimeout(d time.Duration) SubmitOption { return func(b *submitBody) { b.Timeout = d.String() } }

// ProcessAt runs the job no earlier than t.
func ProcessAt(t time.Time) SubmitOption { return func(b *submitBody) { b.ProcessAt = &t } }

// ProcessIn runs the job no earlier than d from now.
func ProcessIn(d time.Duration) SubmitOption { return func(b *submitBody) { b.processIn = d } }

// IdempotencyKey makes a second submit with the same key answer the
// first job (Submitted.Existing).
func IdempotencyKey(k string) SubmitOption { return func(b *submitBody) { b.IdempotencyKey = k } }

// FailurePolicy is what a failed session job does to the jobs after it:
// "block" (the default) or "skip".
func FailurePolicy(p string) SubmitOption { return func(b *submitBody) { b.FailurePolicy = p } }

// OutOfSession submits in the session without refreshing its idle timer.
func OutOfSession() SubmitOption { return func(b *submitBody) { b.outOfSession = true } }

// NoSession submits a job outside any session, as the connection's user.
func NoSession() SubmitOption { return func(b *submitBody) { b.noSession = true } }

// Submit submits a job of type typ with payload in the context's session
// (flushed first), as its owner: the server checks the owner's right
// submit:QUEUE/TYPE.
func (c *Conn) Submit(ctx context.Context, typ string, payload []byte, opts ...SubmitOption) (Submitted, error) {
	b := submitBody{Type: typ}
	for _, o := range opts {
		o(&b)
	}
	if typ == "" {
		return Submitted{}, fmt.Errorf("%w: empty job type", ErrInvalid)
	}
	if b.processIn > 0 {
		t := time.Now().Add(b.processIn)
		b.ProcessAt = &t
	}
	if payload != nil {
		if utf8.Valid(payload) {
			p := string(payload)
			b.Payload = &p
		} else {
			p := base64.StdEncoding.EncodeToString(payload)
			b.PayloadBase64 = &p
		}
	}
	var s *Session
	if !b.noSession {
		s = c.sessionFor(ctx)
		if err := s.Flush(ctx); err != nil {
			return Submitted{}, err
		}
	}
	var hdr []string
	if b.outOfSession {
		hdr = []string{headerOutOfSession, "true"}
	}
	var out Submitted
	if err := c.do(ctx, s, "POST", "/v1/jobs", b, &out, hdr...); err != nil {
		return Submitted{}, fmt.Errorf("submitting a %s job: %w", typ, err)
	}
	return out, nil
}

func jobPath(id string) string { return "/v1/jobs/" + url.PathEscape(id) }

// Job reads job id, as the context's session may see it.
func (c *Conn) Job(ctx context.Context, id string) (*Job, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty job ID", ErrInvalid)
	}
	s := c.sessionFor(ctx)
	var j Job
	if err := c.do(ctx, s, "GET", jobPath(id), nil, &j); err != nil {
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	return &j, nil
}

// Cancel cancels job id and answers the state it is in: cancelled, or
// running when a running session job will stop at its next lease renewal,
// or the state it had already ended in.
func (c *Conn) Cancel(ctx context.Context, id string) (State, error) {
	if id == "" {
		return "", fmt.Errorf("%w: empty job ID", ErrInvalid)
	}
	s := c.sessionFor(ctx)
	var out struct {
		State State `json:"state"`
	}
	if err := c.do(ctx, s, "DELETE", jobPath(id), nil, &out); err != nil {
		return "", fmt.Errorf("cancelling job %s: %w", id, err)
	}
	return out.State, nil
}

// Wait follows job id over the server's event stream until it ends, and
// answers it. A dropped stream is opened again (the server sends the
// job's state first), with backoff; Wait returns when ctx is done.
func (c *Conn) Wait(ctx context.Context, id string) (*Job, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty job ID", ErrInvalid)
	}
	s := c.sessionFor(ctx)
	wait := c.cfg.backoff
	for {
		j, err := c.waitOnce(ctx, s, id)
		if j != nil {
			return j, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for job %s: %w", id, ctx.Err())
		}
		if err != nil && !errors.Is(err, ErrUnavailable) {
			return nil, fmt.Errorf("waiting for job %s: %w", id, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for job %s: %w", id, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// waitOnce reads one stream: the ended job, or nil and why the stream
// ended (ErrUnavailable for a dropped stream).
func (c *Conn) waitOnce(ctx context.Context, s *Session, id string) (*Job, error) {
	res, err := c.stream(ctx, s, jobPath(id)+"/events", headerOutOfSession, "true")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var end *Job
	var derr error
	rerr := readSSE(res.Body, func(ev sseEvent) bool {
		if ev.event != "job" {
			return true
		}
		var je struct {
			Job Job `json:"job"`
		}
		if derr = json.Unmarshal([]byte(ev.data), &je); derr != nil {
			return false
		}
		if je.Job.State.Terminal() {
			end = &je.Job
			return false
		}
		return true
	})
	switch {
	case end != nil:
		return end, nil
	case derr != nil:
		return nil, fmt.Errorf("decoding a job event: %w", derr)
	}
	return nil, fmt.Errorf("%w: the event stream ended: %w", ErrUnavailable, rerr)
}
