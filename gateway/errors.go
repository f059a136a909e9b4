package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
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
	// another kind of job (plain or session), session, queue or type (409).
	CodeIdempotencyConflict = "idempotency_conflict"
	// CodeTooManyStreams: the user, or the gateway process, has as many
	// event streams open as it may (429).
	CodeTooManyStreams = "too_many_streams"
	// CodeUserNotFound: a session was asked for a user that does not
	// exist (404; only an impersonating caller can learn it).
	CodeUserNotFound = "user_not_found"
	CodeUnavailable  = "unavailable"
	CodeInternal     = "internal"
)

// ErrorBody is the one shape of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Code    string `json:"code" doc:"Stable error code" example:"session_not_found"`
	Message string `json:"message" doc:"What went wrong, for people"`
}

// apiError is an error answer, the body of ErrorBody's shape; huma writes
// it with its status.
type apiError struct {
	status int
	Detail ErrorDetail `json:"error"`
}

func (e *apiError) Error() string  { return e.Detail.Code + ": " + e.Detail.Message }
func (e *apiError) GetStatus() int { return e.status }

func apiErr(status int, code, msg string) *apiError {
	return &apiError{status: status, Detail: ErrorDetail{Code: code, Message: msg}}
}

// codeFor is the code of an error that huma itself raises (validation,
// body size, content type).
func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return CodeInvalidRequest
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeBodyTooLarge
	case http.StatusTooManyRequests:
		return CodeRateLimited
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	}
	if status >= 400 && status < 500 {
		return CodeInvalidRequest
	}
	return CodeInternal
}

var setErrorOnce sync.Once

// useErrorShape makes huma answer its own errors (validation, body size)
// in the gateway's shape, and 422 as 400. huma keeps this in a package
// variable; the gateway is its only user in sessionq.
func useErrorShape() {
	setErrorOnce.Do(func() {
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			if status == http.StatusUnprocessableEntity {
				status = http.StatusBadRequest
			}
			parts := []string{}
			if msg != "" {
				parts = append(parts, msg)
			}
			for _, e := range errs {
				var ae *apiError
				if errors.As(e, &ae) {
					return ae
				}
				if e != nil {
					parts = append(parts, e.Error())
				}
			}
			if status >= 500 {
				// Never the internals: the caller logs them.
				parts = []string{http.StatusText(status)}
			}
			return apiErr(status, codeFor(status), strings.Join(parts, ": "))
		}
	})
}

// writeJSONError writes an error answer outside huma.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorBody{ErrorDetail{Code: code, Message: msg}})
}
