package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sessionq/sessionq/api"
)

// Error codes: the wire package's (api.Code*), kept here for callers that
// name them through the gateway.
const (
	CodeInvalidRequest      = api.CodeInvalidRequest
	CodeInvalidSession      = api.CodeInvalidSession
	CodeTIDRequired         = api.CodeTIDRequired
	CodeTIDTaken            = api.CodeTIDTaken
	CodeUnauthenticated     = api.CodeUnauthenticated
	CodeForbidden           = api.CodeForbidden
	CodeNotFound            = api.CodeNotFound
	CodeSessionNotFound     = api.CodeSessionNotFound
	CodeJobNotFound         = api.CodeJobNotFound
	CodeParamNotFound       = api.CodeParamNotFound
	CodeFileNotFound        = api.CodeFileNotFound
	CodeMethodNotAllowed    = api.CodeMethodNotAllowed
	CodeConflict            = api.CodeConflict
	CodeJobRunning          = api.CodeJobRunning
	CodeNotDead             = api.CodeNotDead
	CodeBacklogFull         = api.CodeBacklogFull
	CodeBodyTooLarge        = api.CodeBodyTooLarge
	CodeLimit               = api.CodeLimit
	CodeQuota               = api.CodeQuota
	CodeRateLimited         = api.CodeRateLimited
	CodeIdempotencyConflict = api.CodeIdempotencyConflict
	CodeTooManyStreams      = api.CodeTooManyStreams
	CodeUserNotFound        = api.CodeUserNotFound
	CodeUnavailable         = api.CodeUnavailable
	CodeInternal            = api.CodeInternal
)

// ErrorBody is the one shape of every error answer (api.Error).
type ErrorBody = api.Error

// ErrorDetail says what went wrong (api.ErrorDetail).
type ErrorDetail = api.ErrorDetail

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
	_ = json.NewEncoder(w).Encode(api.Error{Error: api.ErrorDetail{Code: code, Message: msg}})
}
