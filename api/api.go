// Package api is the wire contract of sessionq's HTTP protocol: the header,
// cookie and query names, the error codes and the one error body, and every
// request, response and event body, in one casing (camelCase, as the session
// protocol's own createSession, sessionId and applicationId; TID as the
// protocol spells it).
//
// It is a leaf: it imports nothing of sessionq, so that the gateway (which
// serves it), the Go client, the CLI and the dashboard share it without
// importing one another. The struct tags doc, enum, pattern, minLength and
// maxLength describe the fields in the gateway's OpenAPI document.
package api

import "time"

var zeroTime time.Time

// Names of the protocol's headers, cookie and query parameters.
const (
	// HeaderSession names the request's session, and echoes it in answers.
	HeaderSession = "Sessionq-Session"
	// CookieSession names the request's session; establishing sets it.
	CookieSession = "sessionq_session"
	// QuerySession names the request's session.
	QuerySession = "sessionId"
	// HeaderApplication names the application sub-session.
	HeaderApplication = "Sessionq-Application"
	// QueryApplication names the application sub-session.
	QueryApplication = "applicationId"
	// HeaderOutOfSession: "true" leaves the session's idle timer alone.
	HeaderOutOfSession = "Sessionq-Out-Of-Session"
	// QueryOutOfSession: "true" leaves the session's idle timer alone.
	QueryOutOfSession = "outOfSession"
	// HeaderWarning carries advice about a request that succeeded, such as
	// a submit of a job type no live worker handles.
	HeaderWarning = "Sessionq-Warning"
	// HeaderLastEventID resumes an event stream after an event.
	HeaderLastEventID = "Last-Event-ID"
)

// Error codes: stable, for clients to act on.
const (
	CodeInvalidRequest   = "invalid_request"
	CodeInvalidSession   = "invalid_session_id"
	CodeTIDRequired      = "tid_required"
	CodeTIDTaken         = "tid_taken"
	CodeUnauthenticated  = "unauthenticated"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeSessionNotFound  = "session_not_found"
	CodeJobNotFound      = "job_not_found"
	CodeParamNotFound    = "param_not_found"
	CodeFileNotFound     = "file_not_found"
	CodeUserNotFound     = "user_not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeJobRunning       = "job_running"
	CodeNotDead          = "not_dead"
	CodeBacklogFull      = "backlog_full"
	CodeBodyTooLarge     = "body_too_large"
	CodeLimit            = "limit_exceeded"
	CodeQuota            = "quota_exceeded"
	CodeRateLimited      = "rate_limited"
	// CodeIdempotencyConflict: the idempotency key was first used with
	// another kind of job (plain or session), session, queue or type.
	CodeIdempotencyConflict = "idempotency_conflict"
	// CodeTooManyStreams: the user, or the gateway process, holds as many
	// event streams as it may.
	CodeTooManyStreams = "too_many_streams"
	CodeUnavailable    = "unavailable"
	CodeInternal       = "internal"
)

// Error is the one body of every error answer, on every route (the
// dashboard's JSON included).
type Error struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Code    string `json:"code" doc:"Stable error code" example:"session_not_found"`
	Message string `json:"message" doc:"What went wrong, for people"`
}

// JobState is the state of a job as users see it.
type JobState string

// Job states.
const (
	// StatePending: waiting in its queue for a worker.
	StatePending JobState = "pending"
	// StateParked: a session job waiting for the jobs before it.
	StateParked JobState = "parked"
	// StateWaitingForHandler: no live worker handles its type; it starts
	// once one that does joins, and no attempt is spent meanwhile.
	StateWaitingForHandler JobState = "waiting_for_handler"
	// StateRunning: a worker runs it.
	StateRunning JobState = "running"
	// StateRetrying: it failed and waits for its next attempt.
	StateRetrying JobState = "retrying"
	// StateSucceeded: it ended well.
	StateSucceeded JobState = "succeeded"
	// StateFailed: it used its attempts (or was told not to retry) and is a
	// dead letter.
	StateFailed JobState = "failed"
	// StateCancelled: it was cancelled.
	StateCancelled JobState = "cancelled"
)

// Terminal reports whether a job in state s has ended.
func (s JobState) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// JobStates are every job state, in the order of a job's life.
var JobStates = []JobState{StatePending, StateParked, StateWaitingForHandler, StateRunning,
	StateRetrying, StateSucceeded, StateFailed, StateCancelled}

// Job is a job as every surface shows it: the gateway's answers and events,
// `sessionq job get --json` with or without --api, the Go client.
type Job struct {
	ID            string    `json:"id" doc:"The job's ID" pattern:"^[a-z2-7]{1,128}$"`
	Type          string    `json:"type" doc:"The job type: the handler that runs it"`
	Queue         string    `json:"queue"`
	State         JobState  `json:"state" enum:"pending,parked,waiting_for_handler,running,retrying,succeeded,failed,cancelled"`
	SessionID     string    `json:"sessionId,omitempty" doc:"The session it belongs to (session jobs)"`
	ApplicationID string    `json:"applicationId,omitempty" doc:"Its application sub-session"`
	Seq           int64     `json:"seq,omitempty" doc:"Its sequence number in its session"`
	FailurePolicy string    `json:"failurePolicy,omitempty" enum:"block,skip" doc:"What its failure does to the jobs of its session behind it"`
	Attempts      int       `json:"attempts" doc:"Runs started so far"`
	MaxRetry      int       `json:"maxRetry" doc:"Retries after the first attempt"`
	LastError     string    `json:"lastError,omitempty"`
	Payload       RawJSON   `json:"payload,omitempty" doc:"The payload: its JSON value when it is a JSON object or array, else its text as a string (when it is valid UTF-8)"`
	PayloadBase64 string    `json:"payloadBase64,omitempty" doc:"The payload, base64 (standard encoding), when it is not valid UTF-8"`
	Result        RawJSON   `json:"result,omitempty" doc:"The result, as the payload"`
	ResultBase64  string    `json:"resultBase64,omitempty" doc:"The result, base64, when it is not valid UTF-8"`
	Owner         string    `json:"owner,omitempty" doc:"The user it was submitted as, through the gateway"`
	Created       time.Time `json:"created,omitzero"`
	Started       time.Time `json:"started,omitzero" doc:"When its last attempt started"`
	Finished      time.Time `json:"finished,omitzero"`
	NextRunAt     time.Time `json:"nextRunAt,omitzero" doc:"When it runs next (retrying, or submitted to run later)"`
	OutOfSession  bool      `json:"outOfSession,omitempty"`
	Progress      *Progress `json:"progress,omitempty" doc:"What the running (or last) run reported"`
}

// Progress is how far a running job says it got.
type Progress struct {
	Done    int64     `json:"done"`
	Total   int64     `json:"total,omitempty" doc:"0: unknown"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

// SubmitRequest is the body of POST /v1/jobs.
type SubmitRequest struct {
	Type           string    `json:"type" minLength:"1" maxLength:"128"`
	Payload        RawJSON   `json:"payload,omitempty" doc:"The payload: any JSON value. A string is sent as its text; anything else as its JSON text"`
	PayloadBase64  string    `json:"payloadBase64,omitempty" doc:"The payload as bytes, base64 (standard encoding); not with payload"`
	Queue          string    `json:"queue,omitempty" maxLength:"64" doc:"Default: default"`
	MaxRetry       *int      `json:"maxRetry,omitempty" minimum:"0" maximum:"1000" doc:"Default 3"`
	Timeout        string    `json:"timeout,omitempty" maxLength:"32" doc:"Go duration; default 30m"`
	ProcessAt      time.Time `json:"processAt,omitzero" doc:"Run it no earlier than this"`
	IdempotencyKey string    `json:"idempotencyKey,omitempty" maxLength:"128" doc:"The same key (in the submitter's namespace) gives back the same job; reused for another kind, session, queue or type it is 409 idempotency_conflict"`
	FailurePolicy  string    `json:"failurePolicy,omitempty" enum:"block,skip"`
}

// SubmitResponse is the answer of POST /v1/jobs (202).
type SubmitResponse struct {
	ID        string   `json:"id"`
	SessionID string   `json:"sessionId,omitempty"`
	Seq       int64    `json:"seq,omitempty"`
	State     JobState `json:"state,omitempty"`
	Existing  bool     `json:"existing" doc:"The idempotency key named a job submitted before"`
	Warning   string   `json:"warning,omitempty" doc:"As the Sessionq-Warning header"`
}

// JobStateResponse answers an action on a job (cancel, requeue).
type JobStateResponse struct {
	ID    string   `json:"id"`
	State JobState `json:"state"`
}

// JobList is a list of jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

// JobEvent is the data of a "job" event: a job changed state. Its job
// carries only the fields of that state (Job.ForState).
type JobEvent struct {
	Job Job `json:"job"`
}

// SessionEndEvent is the data of a "session" event: the session ended.
type SessionEndEvent struct {
	Type      string `json:"type" enum:"session.closed,session.expired" doc:"How the session ended"`
	SessionID string `json:"sessionId"`
}

// Session is a session as the gateway shows it.
type Session struct {
	SessionID   string    `json:"sessionId"`
	Owner       string    `json:"owner"`
	TID         string    `json:"TID,omitempty"`
	OpenedBy    string    `json:"openedBy,omitempty" doc:"The connection user that opened it, when not its owner"`
	State       string    `json:"state" enum:"open"`
	Created     time.Time `json:"created"`
	LastAccess  time.Time `json:"lastAccess"`
	IdleTimeout string    `json:"idleTimeout" doc:"Go duration, such as 30m0s"`
	Expires     time.Time `json:"expires" doc:"When it expires unless used again"`
	Deadline    time.Time `json:"deadline,omitzero" doc:"End of its absolute lifetime"`
}

// EstablishRequest is the body of POST /v1/sessions.
type EstablishRequest struct {
	CreateSession bool   `json:"createSession" doc:"true: create a new session; false: find the live session bound to TID"`
	TID           string `json:"TID,omitempty" maxLength:"128" doc:"Terminal ID (in the owner's namespace): binds a new session, or finds an existing one"`
	ApplicationID string `json:"applicationId,omitempty" maxLength:"128" doc:"Application sub-session, echoed in Sessionq-Application"`
	User          string `json:"user,omitempty" maxLength:"64" doc:"Open the session for this user (default: the connection's)"`
	Password      string `json:"password,omitempty" maxLength:"1024" doc:"The user's password; not needed with the impersonate right"`
	IdleTimeout   string `json:"idleTimeout,omitempty" maxLength:"32" doc:"Go duration; default the table's, at most its maximum"`
}

// EstablishResponse answers POST /v1/sessions.
type EstablishResponse struct {
	SessionID     string  `json:"sessionId"`
	Created       bool    `json:"created" doc:"true when a new session was created"`
	ApplicationID string  `json:"applicationId,omitempty"`
	Session       Session `json:"session"`
}

// SessionList is a list of sessions.
type SessionList struct {
	Sessions []Session `json:"sessions"`
}

// Params are a session's parameters.
type Params struct {
	Params map[string]string `json:"params" doc:"The session's parameters, overlaid by the sub-session's"`
}

// ParamsChange is the body of PUT /v1/sessions/{id}/params: every set and
// delete applied, or none.
type ParamsChange struct {
	Params map[string]string `json:"params"`
	Delete []string          `json:"delete,omitempty" maxItems:"1000" doc:"Keys to delete in the same change"`
}

// Param is one parameter.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ParamValue is the body of PUT /v1/sessions/{id}/params/{key}.
type ParamValue struct {
	Value string `json:"value"`
}

// File is a file of a session.
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// FileList lists a session's files.
type FileList struct {
	Files []File `json:"files"`
}

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	User     string `json:"user" minLength:"1" maxLength:"64"`
	Password string `json:"password" maxLength:"1024"`
}

// LoginResponse answers POST /v1/login.
type LoginResponse struct {
	Token   string    `json:"token" doc:"A login token: send it as Authorization: Bearer TOKEN. A password change ends it"`
	User    string    `json:"user"`
	Expires time.Time `json:"expires"`
}
