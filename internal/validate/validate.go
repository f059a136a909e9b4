// Package validate holds the checks that the validators of jobs and
// sessiontable share; each package wraps the reasons in its own errors.
package validate

import (
	"fmt"
	"unicode/utf8"
)

// Name checks that s is 1 to max bytes, each accepted by ok, and returns
// why it is not, or "" when it is. The first refused character is named
// as a character (a rune), not as one byte of its UTF-8 encoding.
func Name(s string, max int, ok func(byte) bool) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > max {
		return fmt.Sprintf("longer than %d bytes", max)
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return At(s, i) + " is not allowed"
		}
	}
	return ""
}

// At describes the character of s that starts at byte i, for an error
// message: "character 'a' at byte 1", "character 'é' (U+00E9) at byte 1",
// or "byte 1 (0xff, not UTF-8)" where s is not valid UTF-8.
func At(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && size <= 1:
		return fmt.Sprintf("byte %d (%#x, not UTF-8)", i, s[i])
	case r < utf8.RuneSelf:
		return fmt.Sprintf("character %q at byte %d", r, i)
	default:
		return fmt.Sprintf("character %q (%U) at byte %d", r, r, i)
	}
}

// Cut shortens a refused value to 64 bytes for an error message, without
// splitting a character.
func Cut(v string) string {
	if len(v) <= 64 {
		return v
	}
	n := 64
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n] + "..."
}
