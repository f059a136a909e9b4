package gateway

import (
	"encoding/json"
	"net/http"
	"strings"

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

// huma's own errors (validation, body size, content type) are built by
// its package-level NewError, which a program may replace but which is
// shared by every huma API of the process. The gateway leaves it alone and
// reshapes them per API instead: errorShape (a transformer of this API's
// configuration) turns huma's *ErrorModel into the one error body, and
// statusContext (a middleware of this API) answers huma's 422 as 400; the
// OpenAPI document's error answers are rewritten to the one body by
// documentErrors, and huma's own error schemas left out of it.

// errorShape is a huma transformer: huma's own error answers in the one
// error body (api.Error), without internals for a 5xx.
func errorShape(ctx huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	ctx.SetHeader("Content-Type", "application/json") // not huma's application/problem+json
	status := em.Status
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	parts := []string{}
	if em.Detail != "" {
		parts = append(parts, em.Detail)
	}
	for _, e := range em.Errors {
		if e != nil {
			parts = append(parts, e.Error())
		}
	}
	if status >= 500 {
		// Never the internals: the caller logs them.
		parts = []string{http.StatusText(status)}
	}
	return apiErr(status, codeFor(status), strings.Join(parts, ": ")), nil
}

// statusContext answers huma's 422 (a body that does not validate) as 400,
// the status of every bad request of the gateway.
type statusContext struct{ humaContext }

// humaContext is huma.Context under a name that does not hide its
// Context method when embedded.
type humaContext = huma.Context

func (c statusContext) SetStatus(code int) {
	if code == http.StatusUnprocessableEntity {
		code = http.StatusBadRequest
	}
	c.humaContext.SetStatus(code)
}

// Unwrap is the adapter's context (humachi.Unwrap looks through it).
func (c statusContext) Unwrap() huma.Context { return c.humaContext }

// errorStatus is the middleware that puts statusContext in place.
func errorStatus(ctx huma.Context, next func(huma.Context)) { next(statusContext{ctx}) }

// writeErr writes an error answer from a huma middleware.
func writeErr(ctx huma.Context, e *apiError) {
	ctx.SetHeader("Content-Type", "application/json")
	ctx.SetStatus(e.status)
	_ = json.NewEncoder(ctx.BodyWriter()).Encode(api.Error{Error: e.Detail})
}

// writeJSONError writes an error answer outside huma.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Error{Error: api.ErrorDetail{Code: code, Message: msg}})
}
