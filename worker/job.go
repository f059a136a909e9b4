package worker

import (
	"context"
	"errors"

	"github.com/sessionq/sessionq/jobs"
)

// ErrSkipRetry makes a failure final when a handler's error wraps it: the
// job is dead-lettered without further retries.
var ErrSkipRetry = errors.New("worker: skip retry")

// ErrLeaseLost is the cause of a handler's context cancellation when its
// session lease was lost (it expired, or was taken over after a pause).
// Anything the handler writes with its fencing token afterwards is refused.
var ErrLeaseLost = errors.New("worker: session lease lost")

// ErrShuttingDown is the cause of a handler's context cancellation when the
// worker stops and the grace period is over; the job is handed back and runs
// again elsewhere.
var ErrShuttingDown = errors.New("worker: shutting down")

// ErrCancelled is the cause of a handler's context cancellation when the
// job was cancelled by a user (jobs.Client.Cancel); the job ends cancelled.
var ErrCancelled = errors.New("worker: job cancelled")

// Job is what a handler gets: one run (attempt) of a job.
type Job struct {
	ID        string
	Type      string
	Payload   []byte
	Queue     string
	SessionID string // empty for a job without a session
	AppID     string // application sub-session, if any
	// Active is true when SessionID names a live session in the session
	// table. A job whose ID names no session still runs, serialized, with
	// Active false.
	Active bool
	// Seq is the job's sequence number in its session.
	Seq int64
	// Backlog is the number of unfinished jobs of the session when this run
	// started, this one included.
	Backlog int64
	// Attempt counts runs, from 1.
	Attempt  int
	MaxRetry int
	// FencingToken is the session lease token of this run; it grows with
	// every run of the session. Writes that carry an older token are refused.
	FencingToken int64
	OutOfSession bool

	result []byte
	// env is extra environment (KEY=VALUE) for an exec handler, from the
	// session attachment (Attachment.Env); set by the worker.
	env []string
	// progress records the run's progress (Progress); set by the worker.
	progress func(context.Context, jobs.Progress) error
}

// SetResult records the job's result, kept (up to the worker's
// MaxResult bytes) when the run succeeds.
func (j *Job) SetResult(b []byte) { j.result = b }

// Result is what SetResult recorded.
func (j *Job) Result() []byte { return j.result }

type jobKey struct{}

// JobFromContext returns the job a handler's context belongs to, or nil.
func JobFromContext(ctx context.Context) *Job {
	j, _ := ctx.Value(jobKey{}).(*Job)
	return j
}

func withJob(ctx context.Context, j *Job) context.Context { return context.WithValue(ctx, jobKey{}, j) }

// Handler runs jobs of one type.
type Handler interface {
	Process(ctx context.Context, job *Job) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job *Job) error

// Process calls f.
func (f HandlerFunc) Process(ctx context.Context, job *Job) error { return f(ctx, job) }
