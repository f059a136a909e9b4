package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/ledger"
)

// maxChain bounds a run of one session's jobs in one slot even while other
// slots are free, far below the asynq deadline of the carrier task.
const maxChain = time.Hour

// process is the asynq handler of every task.
func (w *Worker) process(ctx context.Context, t *asynq.Task) error {
	w.active.Add(1)
	defer w.active.Add(-1)
	c, isSession, err := dispatch.FromTask(t)
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if !w.handles(t.Type()) {
		// Before the lease: no attempt charged, the session's order kept.
		return w.decline(ctx, t)
	}
	if !isSession {
		return w.processPlain(ctx, t)
	}
	res, err := w.led.Acquire(ctx, c.Session, c.Job, c.Gen, w.cfg.ID, w.cfg.Lease)
	if err != nil {
		return fmt.Errorf("acquiring session lease: %w", err)
	}
	if res.Verdict != ledger.OK {
		w.m.dropped.WithLabelValues(string(res.Verdict)).Inc()
		w.log.Debug("dropping task", "job", c.Job, "session", c.Session, "gen", c.Gen, "verdict", res.Verdict)
		return nil
	}
	w.runChain(ctx, res.Job)
	return nil
}

// processPlain runs a job without a session; asynq keeps its state.
func (w *Worker) processPlain(ctx context.Context, t *asynq.Task) error {
	id, _ := asynq.GetTaskID(ctx)
	q, _ := asynq.GetQueueName(ctx)
	n, _ := asynq.GetRetryCount(ctx)
	am, _ := asynq.GetMaxRetry(ctx)
	m := dispatch.PlainMaxRetry(t.Headers(), am)
	job := &Job{ID: id, Type: t.Type(), Payload: t.Payload(), Queue: q, Attempt: n + 1, MaxRetry: m}
	job.progress = w.progressWriter(job, w.cfg.Retention+time.Hour)
	if n > m {
		// Its last run was lost with its worker (asynq counted it): the
		// job used its retries.
		err := fmt.Errorf("attempts exhausted (%d runs, the last one lost with its worker)", n)
		w.outcome(ctx, jobAttrs(job), job.Type, ledger.StateFailed, errorText(err), err)
		w.countPlain(ctx, q, ledger.StateFailed)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if at, ok := dispatch.SubmittedAt(t); ok && n == 0 {
		w.m.wait.WithLabelValues(job.Type).Observe(time.Since(at).Seconds())
	}
	res, err := w.execute(ctx, job)
	switch {
	case err == nil:
		w.outcome(ctx, jobAttrs(job), job.Type, ledger.StateSucceeded, "", nil)
	case errors.Is(err, ErrSkipRetry) || n >= m:
		w.outcome(ctx, jobAttrs(job), job.Type, ledger.StateFailed, errorText(err), err)
	default:
		w.outcome(ctx, jobAttrs(job), job.Type, string(ledger.Retry), errorText(err), err)
	}
	if err != nil {
		if errors.Is(err, ErrSkipRetry) || n >= m {
			// Ended by the worker: asynq's own max retry is one more
			// (dispatch.HeaderMaxRetry).
			w.countPlain(ctx, q, ledger.StateFailed)
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return err
	}
	w.countPlain(ctx, q, ledger.StateSucceeded)
	if len(res) > 0 {
		if _, err := t.ResultWriter().Write(res); err != nil {
			w.log.Warn("writing result", "job", id, "err", err)
		}
	}
	return nil
}

// countPlain counts a plain job of queue q that ended in state st beside
// the session jobs the ledger counts (ledger.CountEnded: `queue list`);
// a count lost to Redis is logged, the job's end stands.
func (w *Worker) countPlain(ctx context.Context, q, st string) {
	if err := w.led.CountEnded(context.WithoutCancel(ctx), q, st); err != nil {
		w.log.Warn("counting a plain job's end", "queue", q, "err", err)
	}
}

// execute is the one path that runs a handler, for plain and session jobs
// alike: the handler lookup, the metrics, panic capture (with its stack),
// and the result cap. It returns the result, capped at MaxResult.
func (w *Worker) execute(ctx context.Context, job *Job) ([]byte, error) {
	kind := "plain"
	if job.SessionID != "" {
		kind = "session"
	}
	h := w.handlers[job.Type]
	if h == nil {
		// Retried like any failure: in a fleet where workers handle
		// different types, another worker may handle it.
		return nil, fmt.Errorf("no handler for job type %q on worker %s", job.Type, w.cfg.ID)
	}
	w.m.started.WithLabelValues(job.Type, kind).Inc()
	w.m.running.Inc()
	defer w.m.running.Dec()
	w.log.Debug("job started", jobAttrs(job)...)
	t0 := time.Now()
	err := call(withJob(ctx, job), h, job)
	w.m.duration.WithLabelValues(job.Type).Observe(time.Since(t0).Seconds())
	if err != nil {
		return nil, err
	}
	res := job.result
	if len(res) > w.cfg.MaxResult {
		res = res[:w.cfg.MaxResult]
	}
	return res, nil
}

// outcome counts and logs how a run ended (state: StateSucceeded,
// StateFailed, StateCancelled or Retry): success at debug, a failure that
// will be retried at warn with its reason, a job dead-lettered at error.
// The reason is errText, or err's text when err is the run's error; a
// failed exec command's stderr is not in it (it may hold payload text):
// its last ExecStderrLogMax bytes get a line of their own at the level of
// Config.ExecStderrLog.
func (w *Worker) outcome(ctx context.Context, attrs []any, jobType, state, errText string, err error) {
	w.m.finished.WithLabelValues(jobType, state).Inc()
	errText, stderr := failureLog(errText, err)
	switch state {
	case ledger.StateSucceeded:
		w.log.Debug("job succeeded", attrs...)
	case ledger.StateFailed:
		w.log.Error("job failed for good: dead-lettered", append(attrs, "err", errText)...)
	case ledger.StateCancelled:
		w.log.Info("job cancelled", attrs...)
	default:
		w.log.Warn("job failed; it will be retried", append(attrs, "err", errText)...)
	}
	if stderr != "" && w.cfg.ExecStderrLog != ExecStderrOff {
		w.log.Log(ctx, execStderrLevels[w.cfg.ExecStderrLog], "stderr of the failed exec command", append(attrs, "stderr", stderr)...)
	}
}

// failureLog is a failed run's error as the worker logs it: errText, or,
// when err carries a failed exec command's stderr, err's text without it;
// and that stderr apart, cut to its last ExecStderrLogMax bytes.
func failureLog(errText string, err error) (text, stderr string) {
	var se *stderrError
	if err == nil || !errors.As(err, &se) {
		return errText, ""
	}
	return cutText(strings.Replace(err.Error(), se.suffix(), "", 1)), lastBytes(se.tail, ExecStderrLogMax)
}

// jobAttrs are the log attributes of a job run.
func jobAttrs(job *Job) []any {
	a := []any{"job", job.ID, "type", job.Type, "attempt", job.Attempt}
	if job.SessionID != "" {
		a = append(a, "session", job.SessionID)
	}
	return a
}

// runAttrs are the log attributes of a session job's run.
func runAttrs(rj *ledger.RunJob) []any {
	return []any{"job", rj.ID, "type", rj.Type, "attempt", rj.Attempt, "session", rj.Session}
}

// call runs a handler, turning a panic into an error (retried like any)
// that keeps the panic's stack.
func call(ctx context.Context, h Handler, job *Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return h.Process(ctx, job)
}

// PanicError is the error of a handler that panicked: the panic's value and
// the goroutine's stack where it happened. The job is retried like any
// failed job.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("handler panicked: %v\n%s", e.Value, e.Stack)
}

// maxErrorText caps the error text kept with a failed job.
const maxErrorText = 4 << 10

// errorText is err's text, cut to maxErrorText bytes.
func errorText(err error) string { return cutText(err.Error()) }

// cutText is s cut to maxErrorText bytes.
func cutText(s string) string {
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "... (cut)"
	}
	return s
}

// ending is how one run of a session job ended.
type ending int

const (
	endDone     ending = iota // succeeded or failed: finish it
	endLost                   // the lease was lost: someone else moves on
	endHandBack               // shutting down: give it back
)

// runChain runs a session job whose lease this worker holds, then, while the
// affinity budget lasts, the jobs of the session that follow it.
func (w *Worker) runChain(ctx context.Context, rj *ledger.RunJob) {
	start := time.Now()
	over := false // this chain holds one of the slots past the budget
	defer func() {
		if over {
			w.overBudget.Add(-1)
		}
	}()
	for n := 1; rj != nil; n++ {
		var runErr error // the handler's, for the log
		out, how := w.runOne(ctx, rj, &runErr)
		switch how {
		case endLost:
			w.m.lost.Inc()
			w.log.Warn("session lease lost; job abandoned to its new holder", "job", rj.ID, "session", rj.Session, "token", rj.Token)
			return
		case endHandBack:
			w.m.handback.Inc()
			w.handBack(ctx, rj)
			return
		}
		// Keep the session in this slot while the fairness budget lasts, or
		// while another slot is free: then nothing is waiting for this one,
		// and a trip through the queue would only add latency.
		// Past the budget, a session keeps its slot while fewer than half
		// of the slots hold sessions past theirs: the other half goes on
		// serving the queue, and the longest sessions, which no ordered
		// system can finish sooner than their chain of jobs, are not sent
		// to the back of a long queue again and again.
		elapsed := time.Since(start)
		withinBudget := n < w.cfg.InlineBudget && elapsed < w.cfg.InlineTime
		if !withinBudget && !over {
			over = w.claimOverBudget()
		}
		slotFree := w.active.Load() < int64(w.cfg.Concurrency)
		inline := w.cfg.InlineBudget > 0 && (withinBudget || ((over || slotFree) && elapsed < maxChain)) &&
			!w.stopping.Load() && ctx.Err() == nil
		fr, err := w.finish(ctx, rj, out, inline)
		if err != nil {
			// The outcome could not be recorded: the lease runs out and the
			// repair pass dispatches the job again (at least once).
			w.log.Error("recording job outcome; the job will be repaired", "job", rj.ID, "session", rj.Session, "err", err)
			return
		}
		if fr.Verdict == ledger.Stale {
			w.log.Warn("job outcome refused: stale fencing token", "job", rj.ID, "session", rj.Session, "token", rj.Token)
			return
		}
		if fr.Verdict == ledger.Retry {
			w.outcome(ctx, runAttrs(rj), rj.Type, string(ledger.Retry), out.Text, runErr)
			w.enqueue(ctx, fr.Retry)
			return
		}
		w.outcome(ctx, runAttrs(rj), rj.Type, fr.State, out.Text, runErr)
		if fr.State == ledger.StateFailed {
			if err := w.led.DeadLetter(context.WithoutCancel(ctx), rj.Session, rj.ID); err != nil {
				w.log.Error("dead-lettering job; its record says failed", "job", rj.ID, "session", rj.Session, "err", err)
			}
		}
		w.tidy.ended(rj.ID, w.cfg.Retention)
		switch fr.Next {
		case ledger.Run:
			w.m.inline.Inc()
			w.m.handoffs.WithLabelValues("inline").Inc()
			rj = fr.Run
		case ledger.Enqueue:
			w.m.handoffs.WithLabelValues("queue").Inc()
			w.enqueue(ctx, fr.Task)
			rj = nil
		default:
			rj = nil
		}
	}
}

// claimOverBudget takes one of the Concurrency/2 places for a session kept
// in its slot past its inline budget; false when they are all taken.
func (w *Worker) claimOverBudget() bool {
	limit := int64(w.cfg.Concurrency / 2)
	for {
		n := w.overBudget.Load()
		if n >= limit {
			return false
		}
		if w.overBudget.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// finish records the outcome, retrying a failing Redis while the lease lasts.
func (w *Worker) finish(ctx context.Context, rj *ledger.RunJob, out ledger.Outcome, inline bool) (ledger.FinishResult, error) {
	// Only a next job of a queue that is not paused may run inline.
	opt := ledger.FinishOptions{Worker: w.cfg.ID, Lease: w.cfg.Lease, Retention: w.cfg.Retention, Inline: inline, Queues: w.qwatch.openQueues(), Types: w.types}
	ctx = context.WithoutCancel(ctx)
	deadline := rj.Sent.Add(w.cfg.Lease)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		fr, err := w.led.Finish(ctx, rj.Session, rj.ID, rj.Token, out, opt)
		if err == nil || errors.Is(err, ledger.ErrUnexpectedReply) || time.Now().Add(wait).After(deadline) {
			return fr, err
		}
		time.Sleep(wait)
	}
}

func (w *Worker) enqueue(ctx context.Context, t *ledger.Task) {
	if err := dispatch.Enqueue(context.WithoutCancel(ctx), w.aq, t); err != nil {
		// The ledger has the job pending: the repair pass dispatches it.
		w.log.Error("dispatching next job; the repair pass will", "job", t.ID, "session", t.Session, "err", err)
	}
}

func (w *Worker) handBack(ctx context.Context, rj *ledger.RunJob) {
	ctx = context.WithoutCancel(ctx)
	t, err := w.led.Release(ctx, rj.Session, rj.ID, rj.Token)
	if err != nil {
		w.log.Error("handing back job; its lease will expire", "job", rj.ID, "err", err)
		return
	}
	if t != nil {
		w.enqueue(ctx, t)
		w.log.Info("job handed back", "job", rj.ID, "session", rj.Session)
	}
}

// runOne runs one job under its lease and says how it ended; a failed
// run's error is also left in *failed.
func (w *Worker) runOne(ctx context.Context, rj *ledger.RunJob, failed *error) (ledger.Outcome, ending) {
	job := &Job{
		ID: rj.ID, Type: rj.Type, Payload: rj.Payload, Queue: rj.Queue, SessionID: rj.Session,
		AppID: rj.AppID, Active: rj.Active, Seq: rj.Seq, Backlog: rj.Backlog, Attempt: int(rj.Attempt),
		MaxRetry: int(rj.MaxRetry), FencingToken: rj.Token, OutOfSession: rj.OutOfSess,
	}
	job.progress = w.progressWriter(job, 0)
	if rj.Attempt == 1 && !rj.Created.IsZero() {
		w.m.wait.WithLabelValues(job.Type).Observe(max(time.Since(rj.Created), 0).Seconds())
	}
	if rj.Committed > 0 {
		// An earlier run wrote its session changes and result back, then
		// its worker died or stalled before it finished: the job is done.
		w.log.Info("job committed by an earlier run; finishing it without running it again", jobAttrs(job)...)
		return ledger.Outcome{Committed: true}, endDone
	}
	if rj.Attempt > rj.MaxRetry+1 {
		return ledger.Outcome{Final: true, Text: fmt.Sprintf("attempts exhausted (%d runs, the last ones lost with their worker)", rj.Attempt-1)}, endDone
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := w.track(cancel)
	defer w.untrack(r)
	stopRenew := w.renew(jctx, rj, cancel)
	defer stopRenew()
	hctx := jctx
	var att Attachment
	if w.cfg.Attacher != nil {
		actx, a, err := w.cfg.Attacher.Attach(jctx, job)
		if err != nil {
			err = fmt.Errorf("attaching session: %w", err)
			return ledger.Outcome{Text: errorText(err), Final: errors.Is(err, ErrSkipRetry), RetryDelay: w.cfg.RetryDelay(int(rj.Attempt), err)}, endDone
		}
		defer a.Close()
		hctx, att = actx, a
		job.env = a.Env()
	}
	if rj.Timeout > 0 {
		var c context.CancelFunc
		hctx, c = context.WithTimeoutCause(hctx, rj.Timeout, fmt.Errorf("job timed out after %s", rj.Timeout))
		defer c()
	}
	res, err := w.execute(hctx, job)
	if err == nil && att != nil {
		if cerr := att.Commit(jctx, res); cerr != nil {
			if errors.Is(cerr, ErrLeaseLost) {
				cancel(ErrLeaseLost)
			}
			err = fmt.Errorf("committing session changes: %w", cerr)
		}
	}
	stopRenew()
	switch cause := context.Cause(jctx); {
	case errors.Is(cause, ErrLeaseLost):
		return ledger.Outcome{}, endLost
	case errors.Is(cause, ErrShuttingDown):
		return ledger.Outcome{}, endHandBack
	case errors.Is(cause, ErrCancelled):
		return ledger.Outcome{Cancelled: true, Text: "cancelled while running"}, endDone
	}
	if err == nil {
		return ledger.Outcome{OK: true, Text: string(res)}, endDone
	}
	if c := context.Cause(hctx); c != nil && hctx.Err() != nil && ctx.Err() == nil && !errors.Is(err, c) {
		err = fmt.Errorf("%w (%w)", err, c)
	}
	*failed = err
	return ledger.Outcome{
		Text:       errorText(err),
		Final:      errors.Is(err, ErrSkipRetry),
		RetryDelay: w.cfg.RetryDelay(int(rj.Attempt), err),
	}, endDone
}
