// Package dashboard is sessionq's operator dashboard: server-rendered pages
// of sessions (backlog, lease, hot ones, sessions with jobs but no record),
// one session's jobs in order, dead letters with requeue, and asynq's own
// view (asynqmon) under queues/. The gateway mounts it under /ui/.
//
// Access needs a user of package users with the admin right or a read
// right: read:all sees every session and job, read:own only the user's own
// sessions. Browsers cannot send a bearer header when they navigate, so the
// login page exchanges an API token, or a user name and password, for an
// HttpOnly, SameSite=Strict cookie (Secure when Config.Secure) that carries
// the token. Every POST form carries a CSRF token derived from it.
// Unauthenticated pages redirect to the login page; JSON answers 401.
package dashboard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

// CookieName is the cookie that carries a dashboard login.
const CookieName = "sessionq_ui"

// Defaults of Config.
const (
	DefaultPrefix   = "/ui"
	DefaultLoginTTL = 12 * time.Hour
	DefaultMaxRows  = 1000
)

// contentSecurityPolicy allows the dashboard's own script and style only:
// no inline script, no other origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// queuesPolicy is asynqmon's: its built UI configures itself with an inline
// script and inline styles, and asks Google's font CDN for fonts, which
// this policy refuses (the browser falls back to local fonts): nothing
// leaves the gateway's origin.
const queuesPolicy = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'"

//go:embed assets templates
var embedded embed.FS

// Config configures a Handler.
type Config struct {
	// Redis is the Redis of the session table and the jobs. Required.
	Redis redis.UniversalClient
	// Table is the session table. Required.
	Table *sessiontable.Table
	// Jobs is the job client. Required.
	Jobs *jobs.Client
	// Users authenticates tokens and passwords. Required.
	Users *users.Store
	// Prefix is the path the handler is mounted at. Default DefaultPrefix
	// ("/ui").
	Prefix string
	// Secure marks the login cookie Secure (serve behind TLS). Default false.
	Secure bool
	// LoginTTL is the life of the token a password login creates. Default
	// 12h.
	LoginTTL time.Duration
	// CheckPassword, when set, checks a user's password in place of
	// Users.CheckPassword (the gateway passes its throttled check, shared
	// with its own logins); an error wrapping ErrThrottled refuses the
	// attempt with 429. Default Users.CheckPassword, unthrottled.
	CheckPassword func(ctx context.Context, user, password string, r *http.Request) (*users.User, error)
	// Queues, when set, is served under Prefix/queues/ to users with
	// read:all or admin (asynqmon; see NewQueues). Default none.
	Queues http.Handler
	// MaxRows bounds the sessions and dead letters listed. Default 1000.
	MaxRows int
	// Logger receives errors. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Redis == nil || c.Table == nil || c.Jobs == nil || c.Users == nil {
		return c, errors.New("dashboard: Config needs Redis, Table, Jobs and Users")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Prefix[0] != '/' || c.Prefix[len(c.Prefix)-1] == '/' {
		return c, errors.New("dashboard: Prefix starts with / and does not end with one")
	}
	if c.LoginTTL == 0 {
		c.LoginTTL = DefaultLoginTTL
	}
	if c.LoginTTL < time.Minute {
		return c, errors.New("dashboard: LoginTTL below 1m")
	}
	if c.MaxRows == 0 {
		c.MaxRows = DefaultMaxRows
	}
	if c.MaxRows < 0 {
		return c, errors.New("dashboard: MaxRows is negative")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Handler serves the dashboard.
type Handler struct {
	cfg  Config
	mux  *http.ServeMux
	tmpl map[string]*template.Template
}

var _ http.Handler = (*Handler)(nil)

// New returns the dashboard handler for cfg.
func New(cfg Config) (*Handler, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: c, mux: http.NewServeMux(), tmpl: map[string]*template.Template{}}
	funcs := template.FuncMap{"when": when, "prefix": func() string { return c.Prefix }}
	for _, page := range []string{"login", "sessions", "session", "jobs", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(embedded, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		h.tmpl[page] = t
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	p := h.cfg.Prefix
	assets, _ := fs.Sub(embedded, "assets")
	h.mux.Handle("GET "+p+"/assets/", http.StripPrefix(p+"/assets/", http.FileServerFS(assets)))
	h.mux.HandleFunc("GET "+p+"/login", h.loginPage)
	h.mux.HandleFunc("POST "+p+"/login", h.login)
	h.mux.HandleFunc("POST "+p+"/logout", h.auth(h.logout))
	h.mux.HandleFunc("GET "+p+"/{$}", h.auth(func(w http.ResponseWriter, r *http.Request, _ *users.User) {
		http.Redirect(w, r, p+"/sessions", http.StatusSeeOther)
	}))
	h.mux.HandleFunc("GET "+p+"/sessions", h.auth(h.sessions))
	h.mux.HandleFunc("GET "+p+"/api/sessions", h.auth(h.sessionsJSON))
	h.mux.HandleFunc("GET "+p+"/sessions/{id}", h.auth(h.session))
	h.mux.HandleFunc("GET "+p+"/api/sessions/{id}", h.auth(h.sessionJSON))
	h.mux.HandleFunc("GET "+p+"/jobs", h.auth(h.jobs))
	h.mux.HandleFunc("POST "+p+"/jobs/{id}/requeue", h.auth(h.requeue))
	if h.cfg.Queues != nil {
		h.mux.HandleFunc(p+"/queues/", h.auth(func(w http.ResponseWriter, r *http.Request, u *users.User) {
			if !u.Has(users.ReadAll) {
				h.fail(w, r, http.StatusForbidden, "the queues need read:all or admin")
				return
			}
			h.cfg.Queues.ServeHTTP(w, r)
		}))
		h.mux.HandleFunc("GET "+p+"/queues", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, p+"/queues/", http.StatusMovedPermanently)
		})
	}
	h.mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "no such page")
	})
}

// ServeHTTP serves the dashboard.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if isQueues(r.URL.Path, h.cfg.Prefix) {
		hd.Set("Content-Security-Policy", queuesPolicy)
	} else {
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
	}
	h.mux.ServeHTTP(w, r)
}

func isQueues(path, prefix string) bool {
	q := prefix + "/queues/"
	return len(path) >= len(q) && path[:len(q)] == q
}

// csrfToken is the CSRF token of a login: a hash of its token, which only
// the cookie carries (HttpOnly, so no script reads it).
func csrfToken(tok string) string {
	s := sha256.Sum256([]byte("sessionq-dashboard-csrf\x00" + tok))
	return hex.EncodeToString(s[:16])
}

func checkCSRF(r *http.Request, tok string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(tok))) == 1
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}
