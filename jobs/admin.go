package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
)

// ErrNotDead means a job is not dead-lettered, so it cannot be retried or
// deleted as a dead letter.
var ErrNotDead = errors.New("jobs: job is not dead-lettered")

// CancelWait bounds how long Cancel waits for asynq to take a running plain
// job off its worker once its cancellation was sent.
const CancelWait = 5 * time.Second

// Retry runs a dead-lettered (failed) job again: a plain job goes back to
// its queue as pending, with its attempts counted afresh by asynq. A job
// that is not dead-lettered is refused with an error wrapping ErrNotDead. A
// session job is requeued by RequeueDead (at the head of its session, or
// its tail when the session moved on).
func (c *Client) Retry(ctx context.Context, id string) (State, error) {
	in, session, err := c.lookup(ctx, id)
	if err != nil {
		return "", err
	}
	if in.State != StateFailed {
		return in.State, fmt.Errorf("job %s is %s: %w", id, in.State, ErrNotDead)
	}
	if session {
		if _, err := c.RequeueDead(ctx, id); err != nil {
			return in.State, err
		}
		return StatePending, nil
	}
	if err := c.insp.RunTask(in.Queue, id); err != nil {
		return "", fmt.Errorf("retrying job %s: %w", id, err)
	}
	// The job lives on: so does its key's binding, if it has one (a
	// session job's ID index keeps its key; a plain job has none).
	if err := c.rdb.Expire(ctx, keys.Idempotency(id), max(indexTTL, c.cfg.Retention)).Err(); err != nil {
		return StatePending, fmt.Errorf("keeping the idempotency key of job %s: %w", id, err)
	}
	return StatePending, nil
}

// Requeued says where RequeueDead put a session job back.
type Requeued string

// Where a requeued session job goes.
const (
	// RequeuedHead: no job of its session submitted after it had started
	// since it failed (the session had not moved on): it runs next, and the
	// jobs behind it keep waiting behind it.
	RequeuedHead Requeued = "head"
	// RequeuedTail: its session had moved on: it runs after the jobs
	// already waiting, as a new last job.
	RequeuedTail Requeued = "tail"
)

// RequeueDead puts a dead-lettered (failed) session job back into its
// session, with its attempts counted afresh, and says where: at the head of
// the session when the session has not moved on since, else at its tail.
// It leaves the dead letters. A job that did not fail is refused with an
// error wrapping ErrNotDead.
func (c *Client) RequeueDead(ctx context.Context, id string) (Requeued, error) {
	if err := ValidateJobID(id); err != nil {
		return "", err
	}
	s, ok, err := c.led.SessionOf(ctx, id)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	r, err := c.led.Requeue(ctx, s, id, indexTTL)
	if err != nil {
		return "", fmt.Errorf("requeueing job %s: %w", id, err)
	}
	switch r.Verdict {
	case ledger.Gone:
		return "", fmt.Errorf("job %s: %w", id, ErrNotFound)
	case ledger.NotDead:
		return "", fmt.Errorf("job %s is %s: %w", id, r.State, ErrNotDead)
	}
	if r.Next != nil {
		_ = dispatch.Enqueue(ctx, c.aq, r.Next) // the repair pass dispatches it on failure
	}
	return Requeued(r.Where), nil
}

// Delete removes a dead-lettered (failed) job for good: its record, and its
// entry in the dead-letter set. A job that is not dead-lettered is refused
// with an error wrapping ErrNotDead (cancel a waiting job instead).
func (c *Client) Delete(ctx context.Context, id string) error {
	in, session, err := c.lookup(ctx, id)
	if err != nil {
		return err
	}
	if in.State != StateFailed {
		return fmt.Errorf("job %s is %s: %w", id, in.State, ErrNotDead)
	}
	if !session {
		if err := c.insp.DeleteTask(in.Queue, id); err != nil {
			if errors.Is(err, asynq.ErrTaskNotFound) {
				return fmt.Errorf("job %s: %w", id, ErrNotFound)
			}
			return fmt.Errorf("deleting job %s: %w", id, err)
		}
		return nil
	}
	r, err := c.led.DeleteDead(ctx, in.SessionID, id)
	if err != nil {
		return fmt.Errorf("deleting job %s: %w", id, err)
	}
	switch r.Verdict {
	case ledger.NotDead:
		return fmt.Errorf("job %s is %s: %w", id, r.State, ErrNotDead)
	case ledger.Gone:
		return fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	return nil
}

// lookup reads job id and says whether it is a session job.
func (c *Client) lookup(ctx context.Context, id string) (*Info, bool, error) {
	if err := ValidateJobID(id); err != nil {
		return nil, false, err
	}
	in, err := c.Get(ctx, id)
	if err != nil {
		return nil, false, err
	}
	return in, in.SessionID != "", nil
}

// cancelRunningPlain cancels the handler's context of a running plain job
// (asynq's CancelProcessing, a message to the worker that runs it) and, once
// asynq has taken the job off its worker (it then waits for a retry, or is
// archived), deletes it so that it is not run again. A job that succeeded
// meanwhile stays succeeded. When the job is still active after CancelWait
// (its worker did not get the message: it died, or lost Redis), the error
// wraps ErrRunning; asynq hands the job of a dead worker back after its
// lease, and Cancel may then be called again.
func (c *Client) cancelRunningPlain(ctx context.Context, in *Info) (State, error) {
	if err := c.insp.CancelProcessing(in.ID); err != nil {
		return "", fmt.Errorf("cancelling running job %s: %w", in.ID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, CancelWait)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ti, err := c.insp.GetTaskInfo(in.Queue, in.ID)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			// It ended and its record was not kept (Retention < 0).
			return "", fmt.Errorf("job %s: %w", in.ID, ErrNotFound)
		case err != nil:
			return "", fmt.Errorf("reading job %s: %w", in.ID, err)
		}
		switch ti.State {
		case asynq.TaskStateCompleted:
			return StateSucceeded, nil
		case asynq.TaskStateActive:
		default:
			// Failed by the cancellation: waiting for a retry, or archived.
			err := c.insp.DeleteTask(in.Queue, in.ID)
			if err == nil {
				return StateCancelled, nil
			}
			if !errors.Is(err, asynq.ErrTaskNotFound) && ctx.Err() == nil {
				// Taken again in between (active): wait for it again.
				if ti2, err2 := c.insp.GetTaskInfo(in.Queue, in.ID); err2 != nil || ti2.State != asynq.TaskStateActive {
					return "", fmt.Errorf("cancelling job %s: %w", in.ID, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("cancelling job %s: %w", in.ID, ctx.Err())
		case <-wctx.Done():
			return StateRunning, fmt.Errorf("job %s still running %s after its cancellation was sent (is its worker alive?): %w", in.ID, CancelWait, ErrRunning)
		case <-tick.C:
		}
	}
}
