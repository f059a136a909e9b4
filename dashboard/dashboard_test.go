package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/dashboard"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/users"
)

// login logs in through the form and returns the cookie.
func login(t *testing.T, e *env, form url.Values) *http.Cookie {
	t.Helper()
	res, err := client().PostForm(e.base+"/ui/login", form)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/ui/sessions", res.Header.Get("Location"))
	for _, c := range res.Cookies() {
		if c.Name == "sessionq_ui" {
			require.True(t, c.HttpOnly)
			require.Equal(t, http.SameSiteStrictMode, c.SameSite)
			return c
		}
	}
	t.Fatal("no login cookie")
	return nil
}

func get(t *testing.T, e *env, c *http.Cookie, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	require.NoError(t, err)
	if c != nil {
		req.AddCookie(c)
	}
	res, err := client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, string(b)
}

func post(t *testing.T, e *env, c *http.Cookie, path string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c != nil {
		req.AddCookie(c)
	}
	res, err := client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{"/ui/", "/ui/sessions", "/ui/sessions/x", "/ui/jobs", "/ui/queues/"} {
		code, h, _ := get(t, e, nil, p)
		require.Equal(t, http.StatusSeeOther, code, p)
		require.Equal(t, "/ui/login", h.Get("Location"), p)
	}
	code, h, body := get(t, e, nil, "/ui/api/sessions")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.JSONEq(t, `{"error": {"code": "unauthenticated", "message": "log in first"}}`, body, "the API's one error body")
	code, _ = post(t, e, nil, "/ui/jobs/x/requeue", url.Values{})
	require.Equal(t, http.StatusUnauthorized, code)
	code, _, _ = get(t, e, &http.Cookie{Name: "sessionq_ui", Value: "forged"}, "/ui/sessions")
	require.Equal(t, http.StatusSeeOther, code, "a forged cookie is no login")

	code, body = post(t, e, nil, "/ui/login", url.Values{"token": {"wrong"}})
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, "Wrong token")
	code, _ = post(t, e, nil, "/ui/login", url.Values{"user": {"ops"}, "password": {"wrong password!"}})
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = post(t, e, nil, "/ui/login", url.Values{})
	require.Equal(t, http.StatusBadRequest, code)

	// A user without a read right gets no login.
	ctx := context.Background()
	require.NoError(t, e.users.Add(ctx, "writer", "a long enough password", []string{users.WriteOwn}))
	code, body = post(t, e, nil, "/ui/login", url.Values{"user": {"writer"}, "password": {"a long enough password"}})
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body, "no read right")

	c := login(t, e, url.Values{"user": {"ops"}, "password": {"a long enough password"}})
	code, h, body = get(t, e, c, "/ui/sessions")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self'")
	require.NotContains(t, body, "<script>", "no inline script")

	// POST forms need the CSRF token of the login.
	code, body = post(t, e, c, "/ui/logout", url.Values{})
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body, "CSRF")
	code, _ = post(t, e, c, "/ui/logout", url.Values{"csrf": {strings.Repeat("0", 32)}})
	require.Equal(t, http.StatusForbidden, code)
	_, _, page := get(t, e, c, "/ui/sessions")
	m := csrfRe.FindStringSubmatch(page)
	require.Len(t, m, 2)
	code, _ = post(t, e, c, "/ui/logout", url.Values{"csrf": {m[1]}})
	require.Equal(t, http.StatusSeeOther, code)
}

// Bad input on every route gets a clear 4xx, never a 500.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sid, _ := e.session("alice", "", 1)
	c := login(t, e, url.Values{"token": {e.admin}})
	for _, tc := range []struct {
		path string
		code int
		says string
	}{
		{"/ui/sessions/" + url.PathEscape("bad{id"), http.StatusBadRequest, "bad session ID"},
		{"/ui/sessions/" + strings.Repeat("x", 300), http.StatusBadRequest, "bad session ID"},
		{"/ui/sessions/nosuchsession", http.StatusNotFound, "no such session"},
		{"/ui/api/sessions/nosuchsession", http.StatusNotFound, "no such session"},
		{"/ui/api/sessions/" + url.PathEscape("a b"), http.StatusBadRequest, "bad session ID"},
		{"/ui/sessions?sort=sideways", http.StatusBadRequest, "sort is"},
		{"/ui/sessions?owner=" + url.QueryEscape("{x}"), http.StatusBadRequest, "bad owner"},
		{"/ui/jobs?id=" + url.QueryEscape("a b"), http.StatusBadRequest, "bad job ID"},
		{"/ui/jobs?id=nosuchjob", http.StatusNotFound, "No job nosuchjob"},
		{"/ui/nosuchpage", http.StatusNotFound, "no such page"},
		{"/ui/sessions/" + sid, http.StatusOK, sid},
	} {
		code, _, body := get(t, e, c, tc.path)
		require.Equal(t, tc.code, code, "%s: %s", tc.path, body)
		require.Contains(t, body, tc.says, tc.path)
		require.NotContains(t, body, "goroutine", tc.path)
	}
	_, _, page := get(t, e, c, "/ui/jobs")
	csrf := csrfRe.FindStringSubmatch(page)[1]
	for path, code := range map[string]int{
		"/ui/jobs/" + url.PathEscape("a b") + "/requeue": http.StatusBadRequest,
		"/ui/jobs/nosuchjob/requeue":                     http.StatusNotFound,
	} {
		got, body := post(t, e, c, path, url.Values{"csrf": {csrf}})
		require.Equal(t, code, got, "%s: %s", path, body)
	}
}

// read:own shows the user's own sessions only; read:all shows everyone's.
func TestReadRights(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mine, _ := e.session("alice", "", 1)
	theirs, _ := e.session("bob", "", 1)
	require.NoError(t, e.users.Add(ctx, "alice", "a long enough password", []string{users.ReadOwn}))
	tok, _, err := e.users.CreateToken(ctx, "alice", "t", time.Hour)
	require.NoError(t, err)
	c := login(t, e, url.Values{"token": {tok}})
	code, _, body := get(t, e, c, "/ui/api/sessions")
	require.Equal(t, http.StatusOK, code)
	var v struct {
		Rows []struct{ ID string } `json:"rows"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.Len(t, v.Rows, 1)
	require.Equal(t, mine, v.Rows[0].ID)
	code, _, _ = get(t, e, c, "/ui/sessions/"+theirs)
	require.Equal(t, http.StatusNotFound, code, "another owner's session does not exist for read:own")
	code, _, _ = get(t, e, c, "/ui/sessions?owner=bob")
	require.Equal(t, http.StatusForbidden, code)
	code, _, _ = get(t, e, c, "/ui/jobs")
	require.Equal(t, http.StatusForbidden, code)
	code, _, _ = get(t, e, c, "/ui/queues/")
	require.Equal(t, http.StatusForbidden, code)

	admin := login(t, e, url.Values{"token": {e.admin}})
	_, _, body = get(t, e, admin, "/ui/api/sessions?owner=bob")
	require.Contains(t, body, theirs)
	require.NotContains(t, body, mine)
	code, h, _ := get(t, e, admin, "/ui/queues/")
	require.Equal(t, http.StatusOK, code, "asynqmon is served")
	require.Contains(t, h.Get("Content-Type"), "text/html")
	require.Contains(t, h.Get("Content-Security-Policy"), "default-src 'self'", "asynqmon reaches no other origin")
}

// Jobs under an ID that names no session are listed, marked "no record",
// with their backlog; read:own users do not see them.
func TestNoRecordSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for range 2 {
		_, err := e.jobs.Submit(ctx, "block", nil, jobs.Session("order-key-1"), jobs.ProcessIn(time.Hour))
		require.NoError(t, err)
	}
	c := login(t, e, url.Values{"token": {e.admin}})
	code, _, body := get(t, e, c, "/ui/api/sessions")
	require.Equal(t, http.StatusOK, code)
	var v struct {
		Rows []struct {
			ID       string `json:"id"`
			Backlog  int64  `json:"backlog"`
			NoRecord bool   `json:"noRecord"`
		} `json:"rows"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.Len(t, v.Rows, 1)
	require.Equal(t, "order-key-1", v.Rows[0].ID)
	require.Equal(t, int64(2), v.Rows[0].Backlog)
	require.True(t, v.Rows[0].NoRecord)
	code, _, page := get(t, e, c, "/ui/sessions/order-key-1")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, "No open session has this ID")

	// The JSON of both pages: camelCase keys (and TID) at every depth.
	requireCamel(t, body)
	code, _, body = get(t, e, c, "/ui/api/sessions/order-key-1")
	require.Equal(t, http.StatusOK, code)
	requireCamel(t, body)
	var one struct {
		Jobs []map[string]any `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &one))
	require.Len(t, one.Jobs, 2)
	require.Equal(t, "order-key-1", one.Jobs[0]["sessionId"])
	require.Equal(t, "parked", one.Jobs[1]["state"])
	code, _, body = get(t, e, c, "/ui/api/sessions/bad%7Bid")
	require.Equal(t, http.StatusBadRequest, code)
	var apiErr struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &apiErr), body)
	require.Equal(t, "invalid_request", apiErr.Error.Code)
	require.Contains(t, apiErr.Error.Message, "bad session ID")
}

var camelKey = regexp.MustCompile(`^([a-z][a-zA-Z0-9]*|TID)$`)

// requireCamel fails on a key of the JSON body, at any depth, that is not
// camelCase.
func requireCamel(t *testing.T, body string) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				require.Regexp(t, camelKey, k, body)
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	_, err := dashboard.New(dashboard.Config{})
	require.ErrorContains(t, err, "needs Redis")
	e := newEnv(t)
	ok := dashboard.Config{Redis: e.rdb, Table: e.tbl, Jobs: e.jobs, Users: e.users}
	for name, mod := range map[string]func(*dashboard.Config){
		"prefix without slash": func(c *dashboard.Config) { c.Prefix = "ui" },
		"prefix ending in /":   func(c *dashboard.Config) { c.Prefix = "/ui/" },
		"short login":          func(c *dashboard.Config) { c.LoginTTL = time.Second },
		"negative rows":        func(c *dashboard.Config) { c.MaxRows = -1 },
	} {
		c := ok
		mod(&c)
		_, err := dashboard.New(c)
		require.Error(t, err, name)
	}
	_, err = dashboard.New(ok)
	require.NoError(t, err)
}
