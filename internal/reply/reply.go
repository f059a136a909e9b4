// Package reply converts the values of a Lua script's reply, as go-redis
// returns them (int64, string, nil for false), to Go values.
package reply

import "strconv"

// Str is v as a string: a bulk string as is, an integer in decimal, and ""
// for nil (a Lua false) or anything else.
func Str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	default:
		return ""
	}
}

// Num is v as an integer: an integer as is, a decimal string parsed, and 0
// for nil (a Lua false), an unparsable string or anything else.
func Num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	default:
		return 0
	}
}
