package users

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/sessionq/sessionq/jobs"
)

// Rights a user may hold. Besides these, "submit:QUEUE/TYPE" allows
// submitting jobs of TYPE to QUEUE; both parts are path.Match globs
// ("submit:*/*" allows every job, "submit:default/doc.*" the doc jobs of
// the default queue).
const (
	// ReadOwn: read one's own sessions (info, parameters, files, events)
	// and jobs.
	ReadOwn = "read:own"
	// ReadAll: read every user's sessions and jobs.
	ReadAll = "read:all"
	// WriteOwn: write one's own sessions (parameters, files, close) and
	// cancel one's own jobs.
	WriteOwn = "write:own"
	// WriteAll: write every user's sessions and cancel every user's jobs.
	WriteAll = "write:all"
	// Impersonate: open sessions for other users without their password
	// (the privileged connection).
	Impersonate = "impersonate"
	// Admin: everything, every session usable.
	Admin = "admin"
	// SubmitPrefix starts a submit right: "submit:QUEUE/TYPE".
	SubmitPrefix = "submit:"
)

// ParseRight checks a right and returns it in canonical form. A bad one is
// an error wrapping ErrInvalid.
func ParseRight(r string) (string, error) {
	switch r {
	case ReadOwn, ReadAll, WriteOwn, WriteAll, Impersonate, Admin:
		return r, nil
	}
	glob, ok := strings.CutPrefix(r, SubmitPrefix)
	if !ok {
		return "", fmt.Errorf("%w: unknown right %q: want read:own, read:all, write:own, write:all, impersonate, admin or submit:QUEUE/TYPE", ErrInvalid, cut(r))
	}
	q, t, ok := strings.Cut(glob, "/")
	if !ok || q == "" || t == "" {
		return "", fmt.Errorf("%w: submit right %q: want submit:QUEUE/TYPE (globs allowed)", ErrInvalid, cut(r))
	}
	for _, g := range []string{q, t} {
		if _, err := path.Match(g, ""); err != nil {
			return "", fmt.Errorf("%w: submit right %q: bad glob %q", ErrInvalid, cut(r), cut(g))
		}
		for i := 0; i < len(g); i++ {
			if c := g[i]; c <= ' ' || c == 0x7f {
				return "", fmt.Errorf("%w: submit right %q: control character or space", ErrInvalid, cut(r))
			}
		}
	}
	return r, nil
}

// User is a user as the store keeps it.
type User struct {
	Name     string   `json:"name"`
	Rights   []string `json:"rights"`
	Password bool     `json:"password"` // whether a password is set
	// Epoch is the user's auth epoch: bumped by each password change.
	// Login tokens and sessions opened with the password record it.
	Epoch int64 `json:"-"`
}

// Has reports whether u holds right r, or admin.
func (u *User) Has(r string) bool {
	return u != nil && (slices.Contains(u.Rights, r) || slices.Contains(u.Rights, Admin))
}

// CanSubmit reports whether u may submit a job of type typ to queue.
func (u *User) CanSubmit(queue, typ string) bool {
	if u == nil {
		return false
	}
	if u.Has(Admin) {
		return true
	}
	if queue == "" {
		queue = jobs.DefaultQueue
	}
	for _, r := range u.Rights {
		glob, ok := strings.CutPrefix(r, SubmitPrefix)
		if !ok {
			continue
		}
		q, t, _ := strings.Cut(glob, "/")
		qm, _ := path.Match(q, queue)
		tm, _ := path.Match(t, typ)
		if qm && tm {
			return true
		}
	}
	return false
}

// CanRead reports whether u may read what owner owns. An empty owner
// (something no user owns) is readable with read:all only.
func (u *User) CanRead(owner string) bool {
	return u.Has(ReadAll) || owner != "" && owner == u.name() && u.Has(ReadOwn)
}

// CanWrite reports whether u may write what owner owns.
func (u *User) CanWrite(owner string) bool {
	return u.Has(WriteAll) || owner != "" && owner == u.name() && u.Has(WriteOwn)
}

func (u *User) name() string {
	if u == nil {
		return ""
	}
	return u.Name
}

func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
