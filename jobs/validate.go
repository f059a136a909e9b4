package jobs

import (
	"errors"
	"fmt"

	"github.com/sessionq/sessionq/internal/validate"
)

// Limits on what a producer may submit.
const (
	// MaxIDLen is the longest session ID, application ID or idempotency key.
	MaxIDLen = 128
	// MaxTypeLen is the longest job type name.
	MaxTypeLen = validate.MaxTypeLen
	// MaxQueueLen is the longest queue name.
	MaxQueueLen = 64
	// DefaultMaxPayload is the default payload cap: 1 MiB.
	DefaultMaxPayload = 1 << 20
	// DefaultMaxBacklog is the default cap on the unfinished jobs of one
	// session: 100,000.
	DefaultMaxBacklog = 100_000
)

// ErrInvalid is wrapped by every validation error, so callers can tell bad
// input from a Redis failure with errors.Is.
var ErrInvalid = errors.New("jobs: invalid input")

// ValidationError says which input was refused and why.
type ValidationError struct {
	Field  string // "session ID", "job type", ...
	Value  string // the refused value, cut to 64 bytes
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, value, reason string) error {
	return &ValidationError{Field: field, Value: validate.Cut(value), Reason: reason}
}

// idChar reports whether c may appear in a session ID, application ID,
// idempotency key or job ID: letters, digits and . _ - : @
var idChar = validate.IDChar

func checkID(field, s string, max int, ok func(byte) bool) error {
	if why := validate.Name(s, max, ok); why != "" {
		return invalid(field, s, why)
	}
	return nil
}

// ValidateSessionID checks a session ID: 1 to 128 bytes of letters, digits
// and . _ - : @ (never '{' or '}', which would break the Redis hash tag).
func ValidateSessionID(s string) error { return checkID("session ID", s, MaxIDLen, idChar) }

// ValidateApplicationID checks an application (sub-session) ID, with the
// same rules as a session ID.
func ValidateApplicationID(s string) error { return checkID("application ID", s, MaxIDLen, idChar) }

// ValidateJobID checks a job ID or idempotency key, with the same rules as
// a session ID.
func ValidateJobID(s string) error { return checkID("job ID", s, MaxIDLen, idChar) }

// ValidateType checks a job type: 1 to 128 bytes of letters, digits and
// . _ - : /
func ValidateType(s string) error {
	return checkID("job type", s, MaxTypeLen, validate.TypeChar)
}

// ValidateQueue checks a queue name: 1 to 64 bytes of letters, digits and
// . _ -
func ValidateQueue(s string) error {
	return checkID("queue", s, MaxQueueLen, func(c byte) bool { return c != ':' && c != '@' && idChar(c) })
}
