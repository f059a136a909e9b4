package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessionq/sessionq/sessiontable"
)

// Attacher prepares what a session job sees of its session (files,
// parameters) before its handler runs, and writes back what the job changed
// after it succeeds. SessionTable adapts the session table; a worker without
// one gives handlers only the Job fields.
type Attacher interface {
	// Attach is called before the handler of every session job. It sets
	// job.Active to whether the job sees an open session. The returned
	// context is the handler's; the Attachment is always Closed.
	Attach(ctx context.Context, job *Job) (context.Context, Attachment, error)
}

// Attachment is one job run's view of its session.
type Attachment interface {
	// Commit writes the job's changes back, with its result, only while
	// job.FencingToken is the session's current lease token, and marks the
	// job committed so that it never runs again; a stale token returns an
	// error wrapping ErrLeaseLost and writes nothing. Called after a
	// successful handler, before the job is marked succeeded.
	Commit(ctx context.Context, result []byte) error
	// Env is extra environment for an exec handler (KEY=VALUE).
	Env() []string
	// Close releases local resources (a temporary directory).
	Close() error
}

// SessionTable is the Attacher of the session table t: a session job sees
// its session's files and parameters (sessiontable.FromContext, or the
// environment of an exec command), and what it changes is written back when
// it succeeds. A write-back refused for a stale fencing token is
// ErrLeaseLost; output the table cannot take fails the job for good
// (ErrSkipRetry).
func SessionTable(t *sessiontable.Table) Attacher { return tableAttacher{t} }

type tableAttacher struct{ t *sessiontable.Table }

func (a tableAttacher) Attach(ctx context.Context, job *Job) (context.Context, Attachment, error) {
	ctx, at, err := a.t.Attach(ctx, sessiontable.JobRef{
		ID: job.ID, SessionID: job.SessionID, AppID: job.AppID, Active: job.Active,
		OutOfSession: job.OutOfSession, Backlog: job.Backlog, FencingToken: job.FencingToken,
	})
	if err != nil {
		return nil, nil, err
	}
	job.Active = at.Active()
	return ctx, tableAttachment{at}, nil
}

type tableAttachment struct{ *sessiontable.Attachment }

func (a tableAttachment) Commit(ctx context.Context, result []byte) error {
	err := a.Attachment.Commit(ctx, result)
	switch {
	case errors.Is(err, sessiontable.ErrStale):
		return fmt.Errorf("%w: %w", err, ErrLeaseLost)
	case errors.Is(err, sessiontable.ErrBadOutput), errors.Is(err, sessiontable.ErrLimit):
		return fmt.Errorf("%w: %w", err, ErrSkipRetry)
	}
	return err
}
