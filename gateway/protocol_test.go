package gateway_test

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/users"
)

var aliceRights = []string{users.ReadOwn, users.WriteOwn, "submit:*/*"}

// TestProtocol walks through the whole protocol, and checks that every
// operation of the OpenAPI description was answered and validated.
func TestProtocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	alice := e.user("alice", aliceRights...)

	// Health, readiness: no token needed.
	require.Equal(t, 200, e.req("", "GET", "/healthz", nil).status)
	require.Equal(t, 200, e.req("", "GET", "/readyz", nil).status)

	// Establish: create, bound to a TID.
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true, "TID": "ws-042"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	s := r.json(t)["sessionId"].(string)
	require.Equal(t, true, r.json(t)["created"])
	require.Equal(t, s, r.hdr.Get("Sessionq-Session"), "echoed")
	ck := r.hdr.Get("Set-Cookie")
	require.Contains(t, ck, "sessionq_session="+s)
	require.Contains(t, ck, "HttpOnly")
	require.Contains(t, ck, "SameSite=Strict")

	// Establish: find it by TID; TID errors.
	r = e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": false, "TID": "ws-042"})
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, s, r.json(t)["sessionId"])
	require.Equal(t, false, r.json(t)["created"])
	r = e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": false})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r)
	require.Equal(t, "tid_required", r.code(t))
	r = e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": false, "TID": "ws-999"})
	require.Equal(t, http.StatusNotFound, r.status, "%s", r)
	require.Equal(t, "session_not_found", r.code(t))
	r = e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true, "TID": "ws-042"})
	require.Equal(t, http.StatusConflict, r.status, "%s", r)
	require.Equal(t, "tid_taken", r.code(t))

	// A second session, to tell the precedence apart.
	r = e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	s2 := r.json(t)["sessionId"].(string)

	// Parameters by path; the session of the path is echoed.
	r = e.req(alice, "PUT", "/v1/sessions/"+s+"/params", map[string]any{"params": map[string]string{"lang": "en", "n": "1"}})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)
	require.Equal(t, s, r.hdr.Get("Sessionq-Session"))
	r = e.req(alice, "PUT", "/v1/sessions/"+s2+"/params/lang", map[string]any{"value": "fr"})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)

	// Precedence: header > cookie > query, each echoed. A job records the
	// session it ran in.
	hc := e.jarClient()
	r = e.reqWith(hc, alice, "POST", "/v1/sessions", map[string]any{"createSession": false, "TID": "ws-042"})
	require.Equal(t, 200, r.status) // the jar now holds the cookie for s
	submit := func(hc *http.Client, path string, hdr ...string) (string, string) {
		r := e.reqWith(hc, alice, "POST", path, map[string]any{"type": "echo", "payload": "hi"}, hdr...)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r)
		m := r.json(t)
		sid, _ := m["sessionId"].(string)
		require.Equal(t, sid, r.hdr.Get("Sessionq-Session"), "echo")
		return m["id"].(string), sid
	}
	_, got := submit(hc, "/v1/jobs?sessionId="+s2, "Sessionq-Session", s2)
	require.Equal(t, s2, got, "the header wins over the cookie")
	_, got = submit(hc, "/v1/jobs?sessionId="+s2)
	require.Equal(t, s, got, "the cookie wins over the query")
	_, got = submit(e.hc, "/v1/jobs?sessionId="+s2)
	require.Equal(t, s2, got, "the query, alone")
	jid, got := submit(e.hc, "/v1/jobs")
	require.Equal(t, "", got, "no session: a plain job")
	require.Equal(t, "hi", e.waitJob(alice, jid)["result"])

	// A sub-session: parameters fall back to the session's; a job in it
	// records its application ID.
	r = e.req(alice, "PUT", "/v1/sessions/"+s+"/params/lang", map[string]any{"value": "de"}, "Sessionq-Application", "checkout")
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)
	require.Equal(t, "checkout", r.hdr.Get("Sessionq-Application"))
	r = e.req(alice, "GET", "/v1/sessions/"+s+"/params?applicationId=checkout", nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.Equal(t, map[string]any{"lang": "de", "n": "1"}, r.json(t)["params"])
	r = e.req(alice, "GET", "/v1/sessions/"+s+"/params/lang", nil)
	require.Equal(t, "en", r.json(t)["value"], "the session keeps its own")
	r = e.req(alice, "GET", "/v1/sessions/"+s+"/params/nope", nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "param_not_found", r.code(t))
	r = e.req(alice, "DELETE", "/v1/sessions/"+s+"/params/n", nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)
	jid, _ = submit(e.hc, "/v1/jobs", "Sessionq-Session", s, "Sessionq-Application", "checkout")
	j := e.waitJob(alice, jid)
	require.Equal(t, "checkout", j["applicationId"])
	require.Equal(t, "succeeded", j["state"])
	require.Equal(t, "alice", j["owner"])

	// Files.
	r = e.req(alice, "PUT", "/v1/sessions/"+s+"/files/data.xml", []byte("<doc/>"))
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)
	r = e.req(alice, "GET", "/v1/sessions/"+s+"/files/data.xml", nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.Equal(t, "<doc/>", string(r.body))
	r = e.req(alice, "GET", "/v1/sessions/"+s+"/files", nil)
	require.Equal(t, []any{map[string]any{"name": "data.xml", "size": float64(6)}}, r.json(t)["files"])
	r = e.req(alice, "PUT", "/v1/sessions/"+s+"/files/..", []byte("x"))
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r)
	r = e.req(alice, "DELETE", "/v1/sessions/"+s+"/files/data.xml", nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)
	r = e.req(alice, "GET", "/v1/sessions/"+s+"/files/data.xml", nil)
	require.Equal(t, "file_not_found", r.code(t))

	// Sessions: list and read.
	r = e.req(alice, "GET", "/v1/sessions", nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.Len(t, r.json(t)["sessions"], 2)
	r = e.req(alice, "GET", "/v1/sessions/"+s, nil)
	require.Equal(t, "alice", r.json(t)["owner"])
	require.Equal(t, "ws-042", r.json(t)["TID"])

	// Jobs: payloadBase64, cancel, events, dead letters.
	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo", "payloadBase64": "/wA=", "queue": "default",
		"maxRetry": 0, "timeout": "10s", "idempotencyKey": "k-1", "failurePolicy": "skip"}, "Sessionq-Session", s)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r)
	j = e.waitJob(alice, r.json(t)["id"].(string))
	require.Equal(t, "/wA=", j["resultBase64"])
	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo", "idempotencyKey": "k-1"}, "Sessionq-Session", s)
	require.Equal(t, true, r.json(t)["existing"])

	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "block"}, "Sessionq-Session", s2)
	blocker := r.json(t)["id"].(string)
	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo"}, "Sessionq-Session", s2)
	parked := r.json(t)["id"].(string)
	r = e.req(alice, "DELETE", "/v1/jobs/"+parked, nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.Equal(t, "cancelled", r.json(t)["state"])

	// Job events: the blocker's state, then its end.
	evs := e.events(alice, "/v1/jobs/"+blocker+"/events", func() { close(e.release) })
	require.NotEmpty(t, evs)
	require.Equal(t, "job", evs[0].name)
	require.Contains(t, evs[len(evs)-1].data, `"state":"succeeded"`)

	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "fail", "maxRetry": 0}, "Sessionq-Session", s2)
	failed := r.json(t)["id"].(string)
	require.Equal(t, "failed", e.waitJob(alice, failed)["state"])
	r = e.req(alice, "GET", "/v1/dead", nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.Contains(t, string(r.body), failed)
	r = e.req(alice, "GET", "/v1/sessions/"+s2+"/events", nil, "Last-Event-ID", "not-an-id")
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r)
	// Requeued, it runs again (and fails again); a job that did not fail
	// is refused.
	r = e.req(alice, "POST", "/v1/dead/"+failed+"/requeue", nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.Equal(t, "pending", r.json(t)["state"])
	require.Equal(t, "failed", e.waitJob(alice, failed)["state"])
	r = e.req(alice, "POST", "/v1/dead/"+parked+"/requeue", nil)
	require.Equal(t, 409, r.status, "%s", r)
	require.Equal(t, "not_dead", r.json(t)["error"].(map[string]any)["code"])

	// Session events: a job submitted, started and ended, then the close.
	var last string
	evs = e.events(alice, "/v1/sessions/"+s2+"/events", func() {
		r := e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo"}, "Sessionq-Session", s2)
		last = r.json(t)["id"].(string)
		e.waitJob(alice, last)
		require.Equal(t, http.StatusNoContent, e.req(alice, "DELETE", "/v1/sessions/"+s2, nil).status)
	})
	require.Equal(t, "session", evs[len(evs)-1].name)
	require.Contains(t, evs[len(evs)-1].data, `"type":"session.closed"`)
	require.True(t, slices.ContainsFunc(evs, func(ev event) bool {
		return ev.name == "job" && strings.Contains(ev.data, last) && strings.Contains(ev.data, `"succeeded"`)
	}), "the job's end is an event: %v", evs)
	require.True(t, slices.ContainsFunc(evs, func(ev event) bool {
		return ev.name == "job" && strings.Contains(ev.data, last) && strings.Contains(ev.data, `"state":"pending"`)
	}), "the job's submit is an event: %v", evs)
	r = e.req(alice, "GET", "/v1/sessions/"+s2, nil)
	require.Equal(t, http.StatusNotFound, r.status)

	// Login answers a token that works like any other.
	r = e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "pw-alice"})
	require.Equal(t, 200, r.status, "%s", r)
	tok := r.json(t)["token"].(string)
	require.Equal(t, 200, e.req(tok, "GET", "/v1/sessions", nil).status)
	require.Equal(t, http.StatusNoContent, e.req(tok, "POST", "/v1/logout", nil).status)
	require.Equal(t, http.StatusUnauthorized, e.req(tok, "GET", "/v1/sessions", nil).status, "logged out")
	r = e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "wrong"})
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)
	require.Equal(t, "unauthenticated", r.code(t))

	// Metrics count what was served (for a read:all token).
	r = e.req(e.user("monitor", users.ReadAll), "GET", "/metrics", nil)
	require.Equal(t, 200, r.status)
	require.Contains(t, string(r.body), `sessionq_gateway_requests_total{code="202",method="POST",route="/v1/jobs"}`)

	// Every operation of the description was answered and validated.
	for _, p := range e.spec.Paths.Map() {
		for _, op := range p.Operations() {
			require.True(t, e.seen[op.OperationID], "operation %s was exercised", op.OperationID)
		}
	}
}

// event is one Server-Sent Event.
type event struct{ name, data string }

// events opens an event stream, runs then once it is open, and returns the
// events until the server ends the stream.
func (e *env) events(tok, path string, then func()) []event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, "GET", e.base+path, nil)
	require.NoError(e.t, err)
	r.Header.Set("Authorization", "Bearer "+tok)
	res, err := e.hc.Do(r)
	require.NoError(e.t, err)
	defer res.Body.Close()
	require.Equal(e.t, 200, res.StatusCode)
	require.Equal(e.t, "text/event-stream", res.Header.Get("Content-Type"))
	e.validate(r, &resp{status: res.StatusCode, hdr: res.Header})
	done := make(chan struct{})
	var out []event
	go func() {
		defer close(done)
		sc := bufio.NewScanner(res.Body)
		var ev event
		for sc.Scan() {
			switch l := sc.Text(); {
			case strings.HasPrefix(l, "event: "):
				ev.name = l[len("event: "):]
			case strings.HasPrefix(l, "data: "):
				ev.data = l[len("data: "):]
			case l == "":
				out = append(out, ev)
				ev = event{}
			}
		}
	}()
	then()
	<-done
	return out
}

// TestOutOfSession: an out-of-session read leaves the idle timer alone,
// a normal one refreshes it.
func TestOutOfSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true})
	s := r.json(t)["sessionId"].(string)
	ctx := context.Background()
	la := func() string {
		v, err := e.rdb.HGet(ctx, keys.Session(s), "la").Result()
		require.NoError(t, err)
		return v
	}
	before := la()
	later := func() { // the next millisecond at least
		eventually(t, time.Second, func() bool {
			now, err := e.rdb.Time(ctx).Result()
			require.NoError(t, err)
			return now.UnixMilli() > mustInt(t, before)+1
		}, "time to pass")
	}
	later()
	for _, oos := range [][]string{{"Sessionq-Out-Of-Session", "true"}, nil} {
		path := "/v1/sessions/" + s + "/params"
		if oos == nil {
			path += "?outOfSession=true"
		}
		r = e.req(alice, "GET", path, nil, oos...)
		require.Equal(t, 200, r.status, "%s", r)
		require.Equal(t, before, la(), "an out-of-session read leaves last access alone")
		jpath := "/v1/jobs/jnope"
		if oos == nil {
			jpath += "?outOfSession=true"
		}
		r = e.req(alice, "GET", jpath, nil, append([]string{"Sessionq-Session", s}, oos...)...)
		require.Equal(t, http.StatusNotFound, r.status, "%s", r)
		require.Equal(t, before, la())
	}
	r = e.req(alice, "GET", "/v1/sessions/"+s+"/params", nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.NotEqual(t, before, la(), "a normal read refreshes it")
	ttl, err := e.rdb.PTTL(ctx, keys.Session(s)).Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 29*time.Minute, "and the record's TTL with it")
}

func mustInt(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}
