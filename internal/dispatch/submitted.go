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

// PlainHeaders are the headers of a plain job's task submitted at t.
func PlainHeaders(t time.Time) map[string]string {
	return map[string]string{HeaderSubmitted: strconv.FormatInt(t.UnixMilli(), 10)}
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
