package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/sessiontable"
)

// snapshot is what a refused request must leave unchanged: the names of
// every key in the env's database.
func (e *env) snapshot(t testing.TB) string {
	ks, err := e.rdb.Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	slices.Sort(ks)
	return strings.Join(ks, "\n")
}

// serve runs one request through the handler in process (faster than
// loopback for fuzzing; the same handler).
func (e *env) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, r)
	return w
}

// TestBadInputWritesNothing: malformed JSON, huge bodies, invalid IDs and
// unknown fields get a clear 4xx and change nothing in Redis.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true, "TID": "t-1"})
	s := r.json(t)["sessionId"].(string)
	huge := `{"type":"echo","payload":"` + strings.Repeat("x", 3<<20) + `"}`
	big := `{"type":"echo","payload":"` + strings.Repeat("x", (1<<20)+10) + `"}`
	for _, c := range []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		code               string
	}{
		{"malformed JSON", "POST", "/v1/jobs", `{"type":`, nil, 400, "invalid_request"},
		{"not an object", "POST", "/v1/jobs", `[1,2]`, nil, 400, "invalid_request"},
		{"unknown field", "POST", "/v1/jobs", `{"type":"echo","colour":"red"}`, nil, 400, "invalid_request"},
		{"wrong type", "POST", "/v1/jobs", `{"type":"echo","maxRetry":"3"}`, nil, 400, "invalid_request"},
		{"no type", "POST", "/v1/jobs", `{}`, nil, 400, "invalid_request"},
		{"bad job type", "POST", "/v1/jobs", `{"type":"a b"}`, nil, 400, "invalid_request"},
		{"bad queue", "POST", "/v1/jobs", `{"type":"echo","queue":"a:b"}`, nil, 400, "invalid_request"},
		{"bad policy", "POST", "/v1/jobs", `{"type":"echo","failurePolicy":"maybe"}`, nil, 400, "invalid_request"},
		{"bad base64", "POST", "/v1/jobs", `{"type":"echo","payloadBase64":"%%%"}`, nil, 400, "invalid_request"},
		{"both payloads", "POST", "/v1/jobs", `{"type":"echo","payload":"a","payloadBase64":"YQ=="}`, nil, 400, "invalid_request"},
		{"negative retry", "POST", "/v1/jobs", `{"type":"echo","maxRetry":-1}`, nil, 400, "invalid_request"},
		{"bad timeout", "POST", "/v1/jobs", `{"type":"echo","timeout":"soon"}`, nil, 400, "invalid_request"},
		{"payload over the cap", "POST", "/v1/jobs", big, nil, 400, "invalid_request"},
		{"huge body", "POST", "/v1/jobs", huge, nil, 413, "body_too_large"},
		{"invalid session ID", "POST", "/v1/jobs", `{"type":"echo"}`, []string{"Sessionq-Session", "s{x}"}, 400, "invalid_session_id"},
		{"invalid session ID in the path", "GET", "/v1/sessions/nope/params", nil, nil, 400, "invalid_session_id"},
		{"unknown session", "POST", "/v1/jobs", `{"type":"echo"}`, []string{"Sessionq-Session", sessiontable.NewID()}, 404, "session_not_found"},
		{"bad application ID", "POST", "/v1/jobs", `{"type":"echo"}`, []string{"Sessionq-Session", s, "Sessionq-Application", "a b"}, 400, "invalid_request"},
		{"application without session", "POST", "/v1/jobs", `{"type":"echo"}`, []string{"Sessionq-Application", "app"}, 400, "invalid_request"},
		{"bad out-of-session flag", "POST", "/v1/jobs", `{"type":"echo"}`, []string{"Sessionq-Out-Of-Session", "yes"}, 400, "invalid_request"},
		{"invalid job ID", "GET", "/v1/jobs/a%20b", nil, nil, 400, "invalid_request"},
		{"establish without createSession", "POST", "/v1/sessions", `{"TID":"t-2"}`, nil, 400, "invalid_request"},
		{"invalid TID", "POST", "/v1/sessions", `{"createSession":true,"TID":"a b"}`, nil, 400, "invalid_request"},
		{"bad idle timeout", "POST", "/v1/sessions", `{"createSession":true,"idleTimeout":"-1s"}`, nil, 400, "invalid_request"},
		{"bad param key", "PUT", "/v1/sessions/" + s + "/params/a%20b", `{"value":"v"}`, nil, 400, "invalid_request"},
		{"param value not a string", "PUT", "/v1/sessions/" + s + "/params/k", `{"value":1}`, nil, 400, "invalid_request"},
		{"params with a bad key", "PUT", "/v1/sessions/" + s + "/params", `{"params":{"ok":"1","a b":"2"}}`, nil, 400, "invalid_request"},
		{"path-escaping file name", "PUT", "/v1/sessions/" + s + "/files/..", []byte("x"), nil, 400, "invalid_request"},
		{"file over the cap", "PUT", "/v1/sessions/" + s + "/files/f", []byte(strings.Repeat("x", (1<<20)+2)), nil, 413, "body_too_large"},
		{"login with unknown field", "POST", "/v1/login", `{"user":"alice","password":"pw-alice","x":1}`, nil, 400, "invalid_request"},
		{"no such route", "GET", "/v1/nope", nil, nil, 404, "not_found"},
	} {
		before := e.snapshot(t)
		r := e.req(alice, c.method, c.path, c.body, c.hdr...)
		require.Equal(t, c.status, r.status, "%s: %.300s", c.name, r)
		require.Equal(t, c.code, r.code(t), "%s", c.name)
		require.NotEmpty(t, r.json(t)["error"].(map[string]any)["message"], "%s: a clear message", c.name)
		require.Equal(t, before, e.snapshot(t), "%s: nothing written", c.name)
	}
}

// fuzzEnv is one env for a whole fuzz run.
func fuzzEnv(f *testing.F) (*env, string, string) {
	e := newEnv(f, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true})
	return e, alice, r.json(f)["sessionId"].(string)
}

// FuzzSubmitBody: any body gets an answer below 500; a refused one writes
// nothing.
func FuzzSubmitBody(f *testing.F) {
	e, alice, s := fuzzEnv(f)
	for _, seed := range []string{`{"type":"echo"}`, `{"type":"echo","payload":"x","queue":"q","maxRetry":2,"timeout":"1s"}`,
		`{"type":"echo","payloadBase64":"AA=="}`, `{"type":"echo","processAt":"2030-01-01T00:00:00Z"}`,
		`{`, `null`, `{"type":1}`, `{"type":"a b"}`, `{"type":"echo","timeout":"x"}`, `{"type":"echo","idempotencyKey":"k"}`, `{"createSession":true,"TID":"x"}`} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, inSession bool) {
		for _, path := range []string{"/v1/jobs", "/v1/sessions", "/v1/sessions/" + s + "/params"} {
			method := "POST"
			if strings.HasSuffix(path, "/params") {
				method = "PUT"
			}
			r := httptest.NewRequest(method, path, strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+alice)
			r.Header.Set("Content-Type", "application/json")
			if inSession {
				r.Header.Set("Sessionq-Session", s)
			}
			before := e.snapshot(t)
			w := e.serve(r)
			require.Less(t, w.Code, 500, "%s %s %q: %s", method, path, body, w.Body)
			// 409 is no bad input but a taken TID: the session table keeps
			// a marker of the attempt for a minute.
			if w.Code >= 400 && w.Code != http.StatusConflict {
				require.Equal(t, before, e.snapshot(t), "refused, so nothing written: %q", body)
				require.Contains(t, w.Body.String(), `"code":`)
			}
		}
	})
}

// FuzzSessionRef: the session named by header, cookie and query is the
// first of them that is set; it is echoed; a bad one is refused and
// writes nothing.
func FuzzSessionRef(f *testing.F) {
	e, alice, s := fuzzEnv(f)
	f.Add(s, "", "", "", "")
	f.Add("", s, "", "", "")
	f.Add("", "", s, "", "true")
	f.Add("", "", "", "app", "")
	f.Add("sx", s, "s{a}", "a b", "yes")
	f.Add(s, "", "", "checkout", "false")
	f.Fuzz(func(t *testing.T, hdr, cookie, query, app, oos string) {
		target := "/v1/sessions"
		if query != "" || app != "" || oos != "" {
			target += "?" + url.Values{"sessionId": {query}, "applicationId": {app}, "outOfSession": {oos}}.Encode()
		}
		r := httptest.NewRequest("GET", "/", nil)
		u, err := url.Parse(target)
		require.NoError(t, err)
		r.URL = u
		r.RequestURI = u.RequestURI()
		r.Header.Set("Authorization", "Bearer "+alice)
		if hdr != "" {
			r.Header["Sessionq-Session"] = []string{hdr}
		}
		if cookie != "" {
			r.Header["Cookie"] = []string{"sessionq_session=" + cookie}
		}
		before := e.snapshot(t)
		w := e.serve(r)
		require.Less(t, w.Code, 500, "%s", w.Body)
		// The first non-empty one wins; a cookie that does not parse is
		// as if absent.
		want := hdr
		if want == "" {
			if c, err := r.Cookie("sessionq_session"); err == nil {
				want = c.Value
			}
		}
		if want == "" {
			want = query
		}
		switch {
		case w.Code == 200:
			require.Equal(t, want, w.Header().Get("Sessionq-Session"), "the session is echoed")
			if want != "" {
				require.Equal(t, s, want, "only alice's session is usable")
			}
		case w.Code >= 400:
			require.Equal(t, before, e.snapshot(t), "refused, so nothing written")
		}
	})
}
