// Package validate holds the checks that the validators of jobs and
// sessiontable share; each package wraps the reasons in its own errors.
package validate

import "fmt"

// Name checks that s is 1 to max bytes, each accepted by ok, and returns
// why it is not, or "" when it is.
func Name(s string, max int, ok func(byte) bool) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > max {
		return fmt.Sprintf("longer than %d bytes", max)
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return fmt.Sprintf("byte %d (%q) is not allowed", i, s[i])
		}
	}
	return ""
}

// Cut shortens a refused value to 64 bytes for an error message.
func Cut(v string) string {
	if len(v) > 64 {
		return v[:64] + "..."
	}
	return v
}
