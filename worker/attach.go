package worker

import "context"

// Attacher prepares what a session job sees of its session (files,
// parameters) before its handler runs, and writes back what the job changed
// after it succeeds. The session table implements it; a worker without one
// gives handlers only the Job fields.
type Attacher interface {
	// Attach is called before the handler of every session job. The
	// returned context is the handler's; the Attachment is always Closed.
	Attach(ctx context.Context, job *Job) (context.Context, Attachment, error)
}

// Attachment is one job run's view of its session.
type Attachment interface {
	// Commit writes the job's changes back, only while job.FencingToken is
	// the session's current lease token; a stale token returns an error
	// wrapping ErrLeaseLost and writes nothing. Called after a successful
	// handler, before the job is marked succeeded.
	Commit(ctx context.Context) error
	// Env is extra environment for an exec handler (KEY=VALUE).
	Env() []string
	// Close releases local resources (a temporary directory).
	Close() error
}
