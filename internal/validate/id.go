package validate

// MaxIDLen is the longest session ID, application ID, TID, owner,
// idempotency key or job ID.
const MaxIDLen = 128

// IDChar reports whether c may appear in a session ID, application ID,
// idempotency key or job ID: letters, digits and . _ - : @
func IDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == ':' || c == '@'
}

// MaxTypeLen is the longest job type name.
const MaxTypeLen = 128

// TypeChar reports whether c may appear in a job type: letters, digits and
// . _ - : /
func TypeChar(c byte) bool { return c != '@' && IDChar(c) || c == '/' }
