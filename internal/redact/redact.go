// Package redact removes secrets from what sessionq shows its users: error
// messages and log lines. A Redis URL may hold a password in its user
// information (redis://user:PASSWORD@host) and, in the Sentinel form, in
// its query (?password=...); neither may ever be printed.
package redact

import (
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces a secret.
const Mask = "xxxxx"

// MinSecretLen is the shortest secret replaced where it stands alone in a
// text (rather than inside a URL, where a secret of any length is masked):
// shorter ones would mask common letters of every message.
const MinSecretLen = 4

// urlPattern finds URLs of the schemes that may carry Redis credentials.
var urlPattern = regexp.MustCompile(`(?i)\b(?:rediss?|redis-sentinel|unix)://[^\s"'<>` + "`" + `]+`)

// passwordParam finds a query parameter whose name ends in "password".
var passwordParam = regexp.MustCompile(`(?i)([?&][a-z_]*password=)[^&#]*`)

// URL returns raw with any password masked: the password of its user
// information, the value of any query parameter named *password, and a
// "port" that is not a number where there is no user information
// (redis://user:password with the @host forgotten). It works on strings
// that do not parse as URLs too, which is where error messages quote them.
func URL(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		if start, end, ok := secretSpan(s[i+3:]); ok {
			s = s[:i+3+start] + Mask + s[i+3+end:]
		}
	}
	return passwordParam.ReplaceAllString(s, "${1}"+Mask)
}

// secretSpan finds the password in what follows "scheme://".
func secretSpan(rest string) (start, end int, ok bool) {
	q := strings.IndexAny(rest, "?#")
	if q < 0 {
		q = len(rest)
	}
	// The user information ends at the last '@' before the query: a
	// password may hold an unescaped '/', '@' or ':'.
	if at := strings.LastIndex(rest[:q], "@"); at >= 0 {
		c := strings.Index(rest[:at], ":")
		return c + 1, at, c >= 0
	}
	host := rest[:q]
	if sl := strings.Index(host, "/"); sl >= 0 {
		host = host[:sl]
	}
	c := strings.LastIndex(host, ":")
	if c < 0 || strings.HasSuffix(host, "]") {
		return 0, 0, false
	}
	port := host[c+1:]
	if port == "" || strings.Trim(port, "0123456789") == "" {
		return 0, 0, false
	}
	return c + 1, len(host), true
}

// Secrets returns the passwords raw holds (see URL), each as written and,
// where it differs, unescaped.
func Secrets(raw string) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
		if u, err := url.QueryUnescape(s); err == nil && u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		if start, end, ok := secretSpan(raw[i+3:]); ok {
			add(raw[i+3+start : i+3+end])
		}
	}
	for _, m := range passwordParam.FindAllStringSubmatchIndex(raw, -1) {
		add(raw[m[3]:m[1]])
	}
	return out
}

// Redactor masks a known set of secrets, and every password of a Redis
// URL, in text.
type Redactor struct {
	secrets []string
}

// New returns a Redactor for the secrets of the URLs given (see Secrets)
// and the secrets given as such (tokens).
func New(urls []string, secrets ...string) *Redactor {
	r := &Redactor{}
	for _, u := range urls {
		r.secrets = append(r.secrets, Secrets(u)...)
	}
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	// Longest first, so that a secret containing another is masked whole.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r
}

// String masks the passwords of every Redis URL in s, then every known
// secret of at least MinSecretLen bytes.
func (r *Redactor) String(s string) string {
	s = urlPattern.ReplaceAllStringFunc(s, URL)
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		if len(sec) >= MinSecretLen {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}

// Error returns err with its message redacted, still matching what err
// matches with errors.Is and errors.As. It returns nil for nil.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Writer returns a writer that masks secrets in each write before passing
// it to w. Each write is redacted on its own, so a writer that splits a
// line (and a secret) over two writes defeats it; slog handlers write one
// line at a time.
func (r *Redactor) Writer(w io.Writer) io.Writer { return &writer{r: r, w: w} }

type writer struct {
	r *Redactor
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
