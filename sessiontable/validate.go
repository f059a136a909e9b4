package sessiontable

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sessionq/sessionq/internal/validate"
)

// Limits that are not configurable.
const (
	// IDLen is the length of a session ID: "s" and 128 random bits in 26
	// characters of lowercase base32.
	IDLen = 27
	// MaxTIDLen is the longest TID (terminal ID).
	MaxTIDLen = validate.MaxIDLen
	// MaxOwnerLen is the longest owner name.
	MaxOwnerLen = validate.MaxIDLen
	// MaxParamKeyLen is the longest parameter key.
	MaxParamKeyLen = 128
	// MaxFileNameLen is the longest file name, in bytes.
	MaxFileNameLen = 255
)

// ErrInvalid is wrapped by every validation error of the session table, so
// callers tell bad input from a Redis failure with one errors.Is.
var ErrInvalid = errors.New("sessiontable: invalid input")

// ValidationError says which input was refused and why. It wraps ErrInvalid.
type ValidationError struct {
	Field  string // "session ID", "TID", "file name", ...
	Value  string // the refused value, cut to 64 bytes
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// ValidateApplicationID checks an application (sub-session) ID: 1 to 128
// bytes of letters, digits and . _ - : @, as a job's application ID.
func ValidateApplicationID(s string) error {
	if why := validate.Name(s, validate.MaxIDLen, validate.IDChar); why != "" {
		return invalid("application ID", s, why)
	}
	return nil
}

// idEncoding is lowercase base32, as in job IDs: URL-safe, selectable
// with a double click, and never starting with '-' (a flag on a command
// line).
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new session ID: "s" and 128 bits from the system's
// CSPRNG in 26 characters of lowercase base32.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "s" + idEncoding.EncodeToString(b[:])
}

// ValidateID checks a session table ID: exactly what NewID makes. Any
// other string may still be a job's session ID (see the jobs package),
// but it never names a session in the table.
func ValidateID(id string) error {
	const want = "an \"s\" and 26 characters a-z, 2-7 (a session table ID)"
	if len(id) != IDLen || id[0] != 's' {
		return invalid("session ID", id, "want "+want)
	}
	for i := 1; i < len(id); i++ {
		// Checked by hand: the decoder skips '\r' and '\n'.
		if c := id[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return invalid("session ID", id, fmt.Sprintf("%s: want %s", validate.At(id, i), want))
		}
	}
	// Canonical only: the decoder ignores the two bits past the 128th, so
	// four strings would otherwise name one session.
	if b, err := idEncoding.DecodeString(id[1:]); err != nil || len(b) != 16 || idEncoding.EncodeToString(b) != id[1:] {
		return invalid("session ID", id, "not 128 bits in canonical form: want "+want)
	}
	return nil
}

// nameChar reports whether c may appear in a TID or an owner: letters,
// digits and . _ - : @ (as in a session ID; never '{', '}' or '|').
func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == ':' || c == '@'
}

// ValidateTID checks a terminal ID: 1 to 128 bytes of letters, digits and
// . _ - : @
func ValidateTID(tid string) error { return checkName("TID", tid, MaxTIDLen, nameChar) }

// ValidateOwner checks an owner name: 1 to 128 bytes of letters, digits and
// . _ - : @
func ValidateOwner(owner string) error { return checkName("owner", owner, MaxOwnerLen, nameChar) }

// ValidateParamKey checks a parameter key: 1 to 128 bytes of letters,
// digits and . _ - : @ /
func ValidateParamKey(k string) error {
	return checkName("parameter key", k, MaxParamKeyLen, func(c byte) bool { return nameChar(c) || c == '/' })
}

// ValidateParamValue checks a parameter value: valid UTF-8 of at most max
// bytes (max <= 0: no length check). Values are text: they reach an exec
// job as a JSON file.
func ValidateParamValue(v string, max int) error {
	if max > 0 && len(v) > max {
		return &LimitError{What: "parameter value", Limit: int64(max), Got: int64(len(v))}
	}
	if !utf8.ValidString(v) {
		return invalid("parameter value", v, "not valid UTF-8")
	}
	return nil
}

// ParseParam parses "key=value" (the CLI's --param): the key is what comes
// before the first '=', the value all that follows, possibly empty.
func ParseParam(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", invalid("parameter", s, "want key=value")
	}
	if err := ValidateParamKey(k); err != nil {
		return "", "", err
	}
	if err := ValidateParamValue(v, 0); err != nil {
		return "", "", err
	}
	return k, v, nil
}

// ValidateFileName checks the name of a session file. Names are flat: 1 to
// 255 bytes of valid UTF-8, not "." or "..", without '/', '\\', NUL or other
// control characters, so a name can never leave the session's directory.
// A name must not start with '-' (a command would read it as an option)
// nor hold Unicode format characters (category Cf: bidi overrides and
// isolates, marks, zero-width characters), which make a name read as
// another one.
func ValidateFileName(name string) error {
	switch {
	case name == "":
		return invalid("file name", name, "must not be empty")
	case name[0] == '-':
		return invalid("file name", name, "must not start with '-' (a command would take it for an option)")
	case len(name) > MaxFileNameLen:
		return invalid("file name", name, fmt.Sprintf("longer than %d bytes", MaxFileNameLen))
	case name == "." || name == "..":
		return invalid("file name", name, "names a directory")
	case !utf8.ValidString(name):
		return invalid("file name", name, "not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case r == '/' || r == '\\':
			return invalid("file name", name, "file names are flat: no '/' or '\\'")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return invalid("file name", name, fmt.Sprintf("control character %U", r))
		case unicode.Is(unicode.Cf, r):
			return invalid("file name", name, fmt.Sprintf("format character %U (bidi control, zero-width or other invisible character)", r))
		}
	}
	if !filepath.IsLocal(name) {
		return invalid("file name", name, "not a local file name on this system")
	}
	return nil
}

func checkName(field, s string, max int, ok func(byte) bool) error {
	if why := validate.Name(s, max, ok); why != "" {
		return invalid(field, s, why)
	}
	return nil
}

func invalid(field, value, reason string) error {
	return &ValidationError{Field: field, Value: validate.Cut(value), Reason: reason}
}
