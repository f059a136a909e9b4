package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/users"
)

// ErrThrottled is wrapped by the error of a Config.CheckPassword that
// refuses an attempt for now (too many).
var ErrThrottled = errors.New("dashboard: too many password attempts")

// handlerFunc is a page of a logged-in user.
type handlerFunc func(w http.ResponseWriter, r *http.Request, u *users.User)

// auth runs next for a logged-in user with a read right; a request with no
// valid login is sent to the login page (a page) or answered 401 (JSON).
func (h *Handler) auth(next handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(CookieName)
		if err != nil || c.Value == "" {
			h.unauthenticated(w, r)
			return
		}
		u, err := h.cfg.Users.Authenticate(r.Context(), c.Value)
		switch {
		case errors.Is(err, users.ErrUnauthenticated):
			h.clearCookie(w)
			h.unauthenticated(w, r)
			return
		case err != nil:
			h.unavailable(w, r, "authenticating", err)
			return
		}
		if !u.Has(users.ReadAll) && !u.Has(users.ReadOwn) {
			h.fail(w, r, http.StatusForbidden, "the dashboard needs read:own, read:all or admin")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		}
		if r.Method == http.MethodPost && !checkCSRF(r, c.Value) {
			h.fail(w, r, http.StatusForbidden, "the form is stale or forged (CSRF token missing or wrong); reload the page")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next(w, r.WithContext(withCSRF(r.Context(), csrfToken(c.Value))), u)
	}
}

// wantsJSON: the live-update routes (under api/) answer JSON, errors too.
func wantsJSON(r *http.Request) bool { return strings.Contains(r.URL.Path, "/api/") }

func (h *Handler) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) || r.Method != http.MethodGet {
		h.fail(w, r, http.StatusUnauthorized, "log in first")
		return
	}
	http.Redirect(w, r, h.cfg.Prefix+"/login", http.StatusSeeOther)
}

func (h *Handler) setCookie(w http.ResponseWriter, tok string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: h.cfg.Prefix + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.cfg.Secure, SameSite: http.SameSiteStrictMode})
}

func (h *Handler) clearCookie(w http.ResponseWriter) { h.setCookie(w, "", -1) }

type loginView struct {
	Error string
	User  string
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", loginView{})
}

// loginOrigin refuses a login a browser sends from another origin (login
// CSRF: a page elsewhere logging the browser in as its own user): an
// Origin that is not the request's own, or a Sec-Fetch-Site other than
// same-origin or none. A request with neither header (a non-browser
// client) passes.
var loginOrigin = http.NewCrossOriginProtection()

// login exchanges a token, or a user name and password, for the cookie.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if err := loginOrigin.Check(r); err != nil {
		h.render(w, r, http.StatusForbidden, "login", loginView{Error: "Login refused: it came from another site. Log in from this page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "unreadable form")
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	name, pw := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("password")
	refuse := func(status int, msg string) {
		h.render(w, r, status, "login", loginView{Error: msg, User: name})
	}
	var u *users.User
	var err error
	switch {
	case tok != "":
		u, err = h.cfg.Users.Authenticate(r.Context(), tok)
	case name != "":
		check := func(ctx context.Context, name, pw string, _ *http.Request) (*users.User, error) {
			return h.cfg.Users.CheckPassword(ctx, name, pw)
		}
		if h.cfg.CheckPassword != nil {
			check = h.cfg.CheckPassword
		}
		if u, err = check(r.Context(), name, pw, r); errors.Is(err, ErrThrottled) {
			refuse(http.StatusTooManyRequests, "Too many password attempts; try again later.")
			return
		}
		if err == nil {
			tok, _, err = h.cfg.Users.CreateLoginToken(r.Context(), u, "dashboard", h.cfg.LoginTTL)
		}
	default:
		refuse(http.StatusBadRequest, "Give an API token, or a user name and password.")
		return
	}
	switch {
	case errors.Is(err, users.ErrUnauthenticated), errors.Is(err, users.ErrInvalid), errors.Is(err, users.ErrNotFound):
		refuse(http.StatusUnauthorized, "Wrong token, or wrong user or password.")
		return
	case err != nil:
		h.unavailable(w, r, "logging in", err)
		return
	}
	if !u.Has(users.ReadAll) && !u.Has(users.ReadOwn) {
		refuse(http.StatusForbidden, "This user has no read right (read:own, read:all or admin).")
		return
	}
	h.setCookie(w, tok, int(h.cfg.LoginTTL.Seconds()))
	http.Redirect(w, r, h.cfg.Prefix+"/sessions", http.StatusSeeOther)
}

// logout ends the login behind the cookie: a token the login made is
// revoked (it fails as a cookie and as a bearer token alike); an API
// token the user logged in with stays theirs.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, _ *users.User) {
	if c, err := r.Cookie(CookieName); err == nil {
		if _, err := h.cfg.Users.EndLogin(r.Context(), c.Value); err != nil && !errors.Is(err, users.ErrNotFound) {
			h.unavailable(w, r, "logging out", err)
			return
		}
	}
	h.clearCookie(w)
	http.Redirect(w, r, h.cfg.Prefix+"/login", http.StatusSeeOther)
}

type errorView struct {
	Status  int
	Message string
}

// fail answers status with a message: JSON for the API routes, in the one
// error body of the API (api.Error), else a page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(api.Error{Error: api.ErrorDetail{Code: errorCode(status), Message: msg}})
		return
	}
	h.render(w, r, status, "error", errorView{Status: status, Message: msg})
}

// unavailable logs err and answers 503 without its details.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, doing string, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "dashboard: "+doing, "err", err)
	h.fail(w, r, http.StatusServiceUnavailable, "the service is unavailable; try again")
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	v := struct {
		Page string
		CSRF string
		Data any
	}{page, csrfOf(r.Context()), data}
	if err := h.tmpl[page].ExecuteTemplate(w, "layout.html", v); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "dashboard: rendering "+page, "err", err)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// errorCode is the API's error code of an answer's status.
func errorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return api.CodeInvalidRequest
	case http.StatusUnauthorized:
		return api.CodeUnauthenticated
	case http.StatusForbidden:
		return api.CodeForbidden
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusMethodNotAllowed:
		return api.CodeMethodNotAllowed
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusServiceUnavailable:
		return api.CodeUnavailable
	}
	return api.CodeInternal
}
