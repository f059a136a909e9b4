package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/presence"
)

// A worker never attempts a job it has no handler for. It hands the asynq
// task back unopened (declineError) before anything else: before a session
// job's lease is taken, so the ledger charges no attempt, changes no state
// and keeps the session's order (its head stays the head, its later jobs
// wait behind it); before a plain job's run, and asynq's retry counter does
// not move (asynq.Config.IsFailure says a decline is no failure). asynq puts
// the task back in its queue after the delay the decline chose, for another
// worker to take.

// DefaultHandlerWait is Config.HandlerWait's default.
const DefaultHandlerWait = 2 * time.Second

// declineError is what process returns for a task whose type this worker
// does not handle: asynq retries it after delay without counting a failure.
type declineError struct {
	jobType   string
	worker    string
	elsewhere bool // a live worker handles the type
	delay     time.Duration
}

func (e *declineError) Error() string {
	if e.elsewhere {
		return fmt.Sprintf("%sworker %s has no handler for job type %q; another live worker has one", dispatch.Declined, e.worker, e.jobType)
	}
	return fmt.Sprintf("%sno live worker handles job type %q (worker %s has no handler); the job waits for one", dispatch.Declined, e.jobType, e.worker)
}

// isFailure is asynq's IsFailure: every error but a decline.
func isFailure(err error) bool {
	var d *declineError
	return !errors.As(err, &d)
}

// handles reports whether the worker has a handler for jobType.
func (w *Worker) handles(jobType string) bool { return w.handlers[jobType] != nil }

// decline hands task t back: at once when another live worker handles its
// type (package presence), after HandlerWait when none does, so that a job
// whose type nobody handles costs a look every few seconds and starts soon
// after a worker for it joins.
func (w *Worker) decline(ctx context.Context, t *asynq.Task) error {
	d := &declineError{jobType: t.Type(), worker: w.cfg.ID, delay: w.cfg.HandlerWait}
	ids, err := presence.Handlers(ctx, w.rdb, t.Type())
	switch {
	case err != nil:
		// Cannot tell: try again soon, as if another worker had it.
		w.log.Debug("cannot tell which workers handle the job type", "type", t.Type(), "err", err)
		d.elsewhere, d.delay = true, declineRetry
	case slices.ContainsFunc(ids, func(id string) bool { return id != w.cfg.ID }):
		d.elsewhere, d.delay = true, 0
	}
	reason := "no_live_handler"
	if d.elsewhere {
		reason = "handled_elsewhere"
	}
	w.m.declined.WithLabelValues(t.Type(), reason).Inc()
	w.log.Debug("task handed back: no handler here", "type", t.Type(), "reason", reason)
	return d
}

// declineRetry is the delay of a decline when presence cannot be read.
const declineRetry = 200 * time.Millisecond

// handledList is the worker's types as finish.lua reads them: ",t1,t2,".
func (w *Worker) handledList() string {
	types := w.handlerTypes()
	return "," + strings.Join(types, ",") + ","
}

// handlerTypes are the types the worker handles, sorted.
func (w *Worker) handlerTypes() []string {
	types := make([]string, 0, len(w.handlers))
	for t := range w.handlers {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}
