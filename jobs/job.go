// Package jobs is the producer side of sessionq: the job model, submission
// with an optional session ID, and lookup of a job's state by ID.
//
// A job with a session ID joins its session's ledger in Redis with a
// sequence number; jobs of one session start in that order and never
// overlap, across every worker. A job without one is a plain asynq task.
package jobs

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// State is where a job is in its life, as a user sees it.
type State string

// Job states.
const (
	// StatePending: ready to run, waiting for a free worker slot.
	StatePending State = "pending"
	// StateParked: waiting for earlier jobs of its session.
	StateParked State = "parked"
	// StateRunning: a worker runs it.
	StateRunning State = "running"
	// StateRetrying: failed, waiting to run again (at the head of its
	// session under policy block).
	StateRetrying State = "retrying"
	// StateSucceeded: ran to success.
	StateSucceeded State = "succeeded"
	// StateFailed: failed for good; it is in the dead-letter (archived) set.
	StateFailed State = "failed"
	// StateCancelled: cancelled before it ran.
	StateCancelled State = "cancelled"
	// StateWaitingForHandler: ready to run (or to run again), but no live
	// worker handles its type; it starts once a worker that handles it
	// joins. Workers without its handler hand it back unopened: it is
	// charged no attempt, and a session job keeps its place (the jobs of
	// its session behind it stay parked).
	StateWaitingForHandler State = "waiting_for_handler"
)

// Terminal reports whether the job will not change any more.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// Policy says what a failing job of a session does to the jobs behind it.
type Policy string

const (
	// PolicyBlock is the default: a failed job that will be retried stays
	// at the head of its session; later jobs wait until it succeeds or has
	// used its retries and is dead-lettered.
	PolicyBlock Policy = "block"
	// PolicySkip dead-letters a failed job at once (retrying it later would
	// break the order) and lets the session go on.
	PolicySkip Policy = "skip"
)

// Info is a job as Client.Get reads it.
type Info struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Queue        string    `json:"queue"`
	SessionID    string    `json:"session_id,omitempty"`
	AppID        string    `json:"application_id,omitempty"`
	Seq          int64     `json:"seq,omitempty"`
	State        State     `json:"state"`
	Policy       Policy    `json:"policy,omitempty"`
	Attempts     int       `json:"attempts"`
	MaxRetry     int       `json:"max_retry"`
	LastError    string    `json:"last_error,omitempty"`
	Result       Data      `json:"result,omitempty"`
	Payload      Data      `json:"payload,omitempty"`
	Created      time.Time `json:"created,omitzero"`
	Started      time.Time `json:"started,omitzero"`
	Finished     time.Time `json:"finished,omitzero"`
	NextRunAt    time.Time `json:"next_run_at,omitzero"`
	FencingTok   int64     `json:"fencing_token,omitempty"`
	Worker       string    `json:"worker,omitempty"`   // the worker of the last run of a session job
	Progress     *Progress `json:"progress,omitempty"` // what the running (or last) run reported
	OutOfSession bool      `json:"out_of_session,omitempty"`
}

// Data is a payload or result. In JSON it is a string when it is valid
// UTF-8, else an object {"base64": "..."}.
type Data []byte

// MarshalJSON writes d as a string, or as {"base64": ...} when it is not
// valid UTF-8.
func (d Data) MarshalJSON() ([]byte, error) {
	if utf8.Valid(d) {
		return json.Marshal(string(d))
	}
	return json.Marshal(map[string]string{"base64": base64.StdEncoding.EncodeToString(d)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Data) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = Data(s)
		return nil
	}
	var o struct {
		Base64 string `json:"base64"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("jobs: data is neither a string nor {\"base64\": ...}: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(o.Base64)
	if err != nil {
		return fmt.Errorf("jobs: invalid base64 data: %w", err)
	}
	*d = raw
	return nil
}
