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

	"github.com/sessionq/sessionq/api"
)

// State is a job's state (api.JobState; Terminal reports an end).
type State = api.JobState

// Job states.
const (
	StatePending   = api.StatePending
	StateParked    = api.StateParked
	StateRunning   = api.StateRunning
	StateRetrying  = api.StateRetrying
	StateSucceeded = api.StateSucceeded
	StateFailed    = api.StateFailed
	StateCancelled = api.StateCancelled
	// StateWaitingForHandler: no live worker handles the job's type; it
	// starts once one that does joins.
	StateWaitingForHandler = api.StateWaitingForHandler
)

// Job is a job as the server shows it (api.Job), with its payload and
// result as bytes. It reads and writes JSON as api.Job does.
type Job struct {
	ID            string
	Type          string
	Queue         string
	State         State
	SessionID     string
	ApplicationID string
	Seq           int64
	FailurePolicy string
	Attempts      int
	MaxRetry      int
	LastError     string
	Owner         string
	Created       time.Time
	Started       time.Time // zero when it has not started
	Finished      time.Time // zero when it has not ended
	NextRunAt     time.Time // zero unless it waits to run later
	OutOfSession  bool
	Progress      *api.Progress

	// Payload and Result are the job's bytes.
	Payload []byte
	Result  []byte
}

// jobOf is the job that w shows, its payload and result as bytes.
func jobOf(w api.Job) (Job, error) {
	j := Job{ID: w.ID, Type: w.Type, Queue: w.Queue, State: w.State, SessionID: w.SessionID,
		ApplicationID: w.ApplicationID, Seq: w.Seq, FailurePolicy: w.FailurePolicy, Attempts: w.Attempts,
		MaxRetry: w.MaxRetry, LastError: w.LastError, Owner: w.Owner, Created: w.Created, Started: w.Started,
		Finished: w.Finished, NextRunAt: w.NextRunAt, OutOfSession: w.OutOfSession, Progress: w.Progress}
	var err error
	if j.Payload, err = api.DecodeData(w.Payload, w.PayloadBase64); err != nil {
		return Job{}, fmt.Errorf("the payload of job %s: %w", w.ID, err)
	}
	if j.Result, err = api.DecodeData(w.Result, w.ResultBase64); err != nil {
		return Job{}, fmt.Errorf("the result of job %s: %w", w.ID, err)
	}
	return j, nil
}

// Wire is the job as the server shows it.
func (j Job) Wire() api.Job {
	w := api.Job{ID: j.ID, Type: j.Type, Queue: j.Queue, State: j.State, SessionID: j.SessionID,
		ApplicationID: j.ApplicationID, Seq: j.Seq, FailurePolicy: j.FailurePolicy, Attempts: j.Attempts,
		MaxRetry: j.MaxRetry, LastError: j.LastError, Owner: j.Owner, Created: j.Created, Started: j.Started,
		Finished: j.Finished, NextRunAt: j.NextRunAt, OutOfSession: j.OutOfSession, Progress: j.Progress}
	w.Payload, w.PayloadBase64 = api.EncodeData(j.Payload)
	w.Result, w.ResultBase64 = api.EncodeData(j.Result)
	return w
}

// UnmarshalJSON reads a job as the server shows it (api.Job).
func (j *Job) UnmarshalJSON(b []byte) error {
	var w api.Job
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	v, err := jobOf(w)
	if err != nil {
		return err
	}
	*j = v
	return nil
}

// MarshalJSON writes the job as the server does (api.Job).
func (j Job) MarshalJSON() ([]byte, error) { return json.Marshal(j.Wire()) }

// Submitted is what Submit answers (Warning is set when no live worker
// handles the job's type: the job waits until one that does joins).
type Submitted = api.SubmitResponse

// SubmitOption configures Submit, as the options of jobs.Submit.
type SubmitOption func(*submitBody)

type submitBody struct {
	api.SubmitRequest
	processIn    time.Duration
	outOfSession bool
	noSession    bool
}

// Queue submits to queue name. Default "default".
func Queue(name string) SubmitOption { return func(b *submitBody) { b.Queue = name } }

// MaxRetry sets how many times a failed job is retried. Default 3.
func MaxRetry(n int) SubmitOption { return func(b *submitBody) { b.MaxRetry = &n } }

// JobTimeout bounds one run of the job (jobs.Timeout). Default 30m.
func JobTimeout(d time.Duration) SubmitOption { return func(b *submitBody) { b.Timeout = d.String() } }

// ProcessAt runs the job no earlier than t.
func ProcessAt(t time.Time) SubmitOption { return func(b *submitBody) { b.ProcessAt = t } }

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
	b := submitBody{SubmitRequest: api.SubmitRequest{Type: typ}}
	for _, o := range opts {
		o(&b)
	}
	if typ == "" {
		return Submitted{}, fmt.Errorf("%w: empty job type", ErrInvalid)
	}
	if b.processIn > 0 {
		b.ProcessAt = time.Now().Add(b.processIn)
	}
	// Bytes as they are: a JSON string of their text when valid UTF-8
	// (the server keeps that text byte for byte), else base64.
	if payload != nil {
		if utf8.Valid(payload) {
			b.Payload, _ = json.Marshal(string(payload)) // never fails for a string
		} else {
			b.PayloadBase64 = base64.StdEncoding.EncodeToString(payload)
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
	if err := c.do(ctx, s, "POST", "/v1/jobs", b.SubmitRequest, &out, hdr...); err != nil {
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
	var out api.JobStateResponse
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
