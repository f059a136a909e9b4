package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/ledger"
)

// ErrBacklogFull is wrapped by a BacklogFullError.
var ErrBacklogFull = errors.New("jobs: session backlog full")

// BacklogFullError refuses a submit to a session that holds its maximum of
// unfinished jobs (ClientConfig.MaxBacklog, or the MaxBacklog option).
// Nothing was written.
type BacklogFullError struct {
	Session string
	Backlog int64 // unfinished jobs of the session
	Max     int64
}

func (e *BacklogFullError) Error() string {
	return fmt.Sprintf("session %s holds %d unfinished jobs, its maximum backlog is %d", e.Session, e.Backlog, e.Max)
}

// Unwrap makes errors.Is(err, ErrBacklogFull) true.
func (e *BacklogFullError) Unwrap() error { return ErrBacklogFull }

// ErrNotHead means a session skip found the job it was to skip no longer at
// the head of its session, or no job at all.
var ErrNotHead = errors.New("jobs: no such head job in the session")

// SessionJobs lists the unfinished jobs of session s in order (its
// backlog: the head first, with its state, attempts and worker), from
// offset, at most limit of them, and the backlog's length.
func (c *Client) SessionJobs(ctx context.Context, s string, offset, limit int) ([]*Info, int64, error) {
	if err := ValidateSessionID(s); err != nil {
		return nil, 0, err
	}
	if offset < 0 || limit < 1 {
		return nil, 0, invalid("page", strconv.Itoa(offset)+"+"+strconv.Itoa(limit), "want offset >= 0 and limit >= 1")
	}
	ids, n, err := c.led.Backlog(ctx, s, int64(offset), int64(offset+limit-1))
	if err != nil {
		return nil, 0, err
	}
	recs, err := c.led.Records(ctx, s, ids)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*Info, 0, len(recs))
	for _, r := range recs {
		out = append(out, infoFromRecord(r))
	}
	return out, n, nil
}

// PauseSession pauses session s: it starts no new job (its running job
// finishes) until ResumeSession. It works for any session ID, whether or not
// it names a session record, and lasts until resumed.
func (c *Client) PauseSession(ctx context.Context, s string) error {
	if err := ValidateSessionID(s); err != nil {
		return err
	}
	if _, err := c.led.Pause(ctx, s, true, c.cfg.Retention); err != nil {
		return fmt.Errorf("pausing session %s: %w", s, err)
	}
	return nil
}

// ResumeSession resumes session s: its head job is dispatched again.
func (c *Client) ResumeSession(ctx context.Context, s string) error {
	if err := ValidateSessionID(s); err != nil {
		return err
	}
	t, err := c.led.Pause(ctx, s, false, c.cfg.Retention)
	if err != nil {
		return fmt.Errorf("resuming session %s: %w", s, err)
	}
	if t != nil {
		_ = dispatch.Enqueue(ctx, c.aq, t) // the repair pass dispatches it on failure
	}
	return nil
}

// SkipHead dead-letters the head job of session s on purpose, so that a
// session blocked by a failing job (policy block) goes on: the job ends
// failed, enters the dead letters, and the next job is dispatched. It
// returns the skipped job's ID. A head that runs is not skipped
// (ErrRunning: cancel it instead); a session with no job is ErrNotHead.
func (c *Client) SkipHead(ctx context.Context, s string) (string, error) {
	if err := ValidateSessionID(s); err != nil {
		return "", err
	}
	id, ok, err := c.led.Head(ctx, s)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", fmt.Errorf("session %s: %w", s, ErrNotHead)
	}
	r, err := c.led.Skip(ctx, s, id, c.cfg.Retention)
	if err != nil {
		return "", fmt.Errorf("skipping job %s: %w", id, err)
	}
	switch r.Verdict {
	case ledger.Running:
		return id, fmt.Errorf("job %s of session %s: %w", id, s, ErrRunning)
	case ledger.Cancelled:
	default: // moved, gone, done: the session moved on meanwhile
		return id, fmt.Errorf("job %s of session %s (%s): %w", id, s, r.Verdict, ErrNotHead)
	}
	if err := c.led.DeadLetter(ctx, s, id); err != nil {
		return id, err
	}
	if r.Next != nil {
		_ = dispatch.Enqueue(ctx, c.aq, r.Next)
	}
	return id, nil
}
