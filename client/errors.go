package client

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sessionq/sessionq/api"
)

// Sentinels: compare with errors.Is. An *Error from the server matches the
// sentinel of its status and code.
var (
	// ErrUnauthorized: no valid token, or a wrong user or password (401).
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrForbidden: the user lacks the right (403).
	ErrForbidden = errors.New("client: forbidden")
	// ErrNotFound: no such session, job, parameter or file, or one the
	// caller may not read (404).
	ErrNotFound = errors.New("client: not found")
	// ErrConflict: a TID bound to another session, or a running job that
	// cannot be cancelled (409).
	ErrConflict = errors.New("client: conflict")
	// ErrQuota: the owner's open session quota is reached.
	ErrQuota = errors.New("client: open session quota reached")
	// ErrRateLimited: too many password attempts.
	ErrRateLimited = errors.New("client: rate limited")
	// ErrInvalid: the request was refused as bad input (400, 413);
	// nothing changed.
	ErrInvalid = errors.New("client: invalid request")
	// ErrUnavailable: the server or its Redis is away (503, or the
	// server could not be reached); worth trying again.
	ErrUnavailable = errors.New("client: unavailable")
	// ErrClosed: the connection, listener or pool is closed.
	ErrClosed = errors.New("client: closed")
)

// Codes of the server's error answers (api.Code...), for Error.Code.
const (
	CodeSessionNotFound = api.CodeSessionNotFound
	CodeJobNotFound     = api.CodeJobNotFound
	CodeParamNotFound   = api.CodeParamNotFound
	CodeFileNotFound    = api.CodeFileNotFound
	CodeQuota           = api.CodeQuota
	CodeTIDTaken        = api.CodeTIDTaken
	CodeJobRunning      = api.CodeJobRunning
)

// Error is an error answer of the server: its HTTP status, its stable
// code and its message. errors.Is matches it against the sentinels.
type Error struct {
	Status  int    // HTTP status
	Code    string // stable error code, such as "session_not_found"
	Message string // for people
	Op      string // the request, such as "GET /v1/jobs/{id}"
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: %s: %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// Is matches the sentinel of the error's code, else of its status.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case CodeQuota:
		return target == ErrQuota
	case api.CodeRateLimited:
		return target == ErrRateLimited
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		return target == ErrUnauthorized
	case e.Status == http.StatusForbidden:
		return target == ErrForbidden
	case e.Status == http.StatusNotFound:
		return target == ErrNotFound
	case e.Status == http.StatusConflict:
		return target == ErrConflict
	case e.Status == http.StatusTooManyRequests:
		return target == ErrRateLimited
	case e.Status == http.StatusServiceUnavailable || e.Status >= 500:
		return target == ErrUnavailable
	case e.Status >= 400:
		return target == ErrInvalid
	}
	return false
}
