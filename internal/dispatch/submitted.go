package dispatch

import (
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// HeaderSubmitted is the asynq task header of a plain job that holds its
// submit time (Unix milliseconds), from which a worker measures how long
// the job waited.
const HeaderSubmitted = "sessionq-submitted"

// Declined opens the error text that asynq keeps with a task a worker
// handed back unopened, having no handler for its type: the job was not
// attempted, and waits in its queue.
const Declined = "handed back unopened: "

// HeaderMaxRetry is the asynq task header of a plain job that holds its
// max retry as submitted. Such a task is enqueued with one asynq retry more
// (PlainAsynqRetry) and the worker ends the job itself, with SkipRetry, when
// its own retries are used: a worker without the job's handler hands the
// task back without counting a failure, and asynq archives a task handed
// back on its last asynq retry whatever the reason, so the last retry must
// never be asynq's.
const HeaderMaxRetry = "sessionq-max-retry"

// PlainHeaders are the headers of a plain job's task submitted at t with
// max retry maxRetry.
func PlainHeaders(t time.Time, maxRetry int) map[string]string {
	return map[string]string{
		HeaderSubmitted: strconv.FormatInt(t.UnixMilli(), 10),
		HeaderMaxRetry:  strconv.Itoa(maxRetry),
	}
}

// PlainAsynqRetry is asynq's max retry of a plain job with max retry
// maxRetry (see HeaderMaxRetry).
func PlainAsynqRetry(maxRetry int) int { return maxRetry + 1 }

// PlainMaxRetry is the max retry of a plain job whose task has headers h
// and asynq max retry asynqMax: the header's, or asynqMax for a task
// enqueued without it.
func PlainMaxRetry(h map[string]string, asynqMax int) int {
	if v, ok := h[HeaderMaxRetry]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < asynqMax {
			return n
		}
	}
	return asynqMax
}

// SubmittedAt reads a plain job's submit time from its task; ok is false
// when the task does not carry a valid one (a task enqueued by another
// asynq client, or before the header was written).
func SubmittedAt(t *asynq.Task) (time.Time, bool) {
	v, found := t.Headers()[HeaderSubmitted]
	if !found {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}
