// Package dispatch turns a ledger task (a session job's turn to run) into an
// asynq task and back. The job ID, session ID and dispatch generation travel
// in the task's headers, and the worker reads the job from the ledger when
// it takes the session's lease. The task's payload repeats them as small
// JSON (Payload) so that asynq's own tools (asynqmon, the asynq CLI) show
// which job a carrier stands for instead of an empty or binary payload.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sessionq/sessionq/internal/ledger"
)

// Header names of a session job's asynq task.
const (
	HeaderJob     = "sessionq-job"
	HeaderSession = "sessionq-session"
	HeaderGen     = "sessionq-gen"
)

// CarrierMaxRetry is how often asynq itself redelivers a session job's task
// after an infrastructure failure (Redis unreachable, a worker lost). Job
// retries are the ledger's business, not asynq's.
const CarrierMaxRetry = 25

// CarrierTimeout is asynq's deadline for a session job's task. Job timeouts
// are enforced by the worker; this only has to outlast an inline run of
// several jobs of one session.
const CarrierTimeout = 24 * time.Hour

// Enqueuer is the part of *asynq.Client that dispatch needs.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

var _ Enqueuer = (*asynq.Client)(nil)

// Enqueue puts t on asynq. A task that is already there (a repeated
// dispatch) is not an error.
func Enqueue(ctx context.Context, c Enqueuer, t *ledger.Task) error {
	task := asynq.NewTaskWithHeaders(t.Type, carrierPayload(t), map[string]string{
		HeaderJob:     t.ID,
		HeaderSession: t.Session,
		HeaderGen:     strconv.FormatInt(t.Gen, 10),
	})
	opts := []asynq.Option{
		asynq.Queue(t.Queue),
		asynq.TaskID(t.TaskID()),
		asynq.MaxRetry(CarrierMaxRetry),
		asynq.Timeout(CarrierTimeout),
	}
	if t.At.After(time.Now()) {
		opts = append(opts, asynq.ProcessAt(t.At))
	}
	_, err := c.EnqueueContext(ctx, task, opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing job %s (dispatch %d) on queue %q: %w", t.ID, t.Gen, t.Queue, err)
	}
	return nil
}

// Payload is the JSON payload of a session job's asynq task: for people
// reading asynq's tools; the worker goes by the headers.
type Payload struct {
	// Carrier says what the task is.
	Carrier string `json:"carrier"`
	Job     string `json:"job"`
	Session string `json:"session"`
	// Dispatch is the dispatch generation (a redelivered job has a new one).
	Dispatch int64 `json:"dispatch"`
}

// CarrierKind is Payload.Carrier.
const CarrierKind = "sessionq session job (the job's payload, retries and result are in the ledger)"

func carrierPayload(t *ledger.Task) []byte {
	b, _ := json.Marshal(Payload{Carrier: CarrierKind, Job: t.ID, Session: t.Session, Dispatch: t.Gen})
	return b
}

// Carried is what a session job's asynq task says.
type Carried struct {
	Job     string
	Session string
	Gen     int64
}

// FromTask reads the headers of a session job's task; ok is false for a
// plain task. A session job's task with a payload must carry the Payload of
// the same job, session and dispatch (an empty payload is accepted: tasks
// enqueued before payloads were written).
func FromTask(t *asynq.Task) (c Carried, ok bool, err error) {
	h := t.Headers()
	job, isSession := h[HeaderJob]
	if !isSession {
		return Carried{}, false, nil
	}
	gen, err := strconv.ParseInt(h[HeaderGen], 10, 64)
	if err != nil || h[HeaderSession] == "" || job == "" {
		return Carried{}, true, fmt.Errorf("malformed session task headers %v", h)
	}
	c = Carried{Job: job, Session: h[HeaderSession], Gen: gen}
	if b := t.Payload(); len(b) > 0 {
		var p Payload
		if err := json.Unmarshal(b, &p); err != nil || p.Job != c.Job || p.Session != c.Session || p.Dispatch != c.Gen {
			return Carried{}, true, fmt.Errorf("session task payload does not match its headers %v", h)
		}
	}
	return c, true, nil
}
