package gateway_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/users"
)

// login logs user in with password through POST /v1/login.
func (e *env) login(user, password string, hdr ...string) string {
	e.t.Helper()
	r := e.req("", "POST", "/v1/login", map[string]any{"user": user, "password": password}, hdr...)
	require.Equal(e.t, http.StatusOK, r.status, "%s", r)
	return r.json(e.t)["token"].(string)
}

// TestPasswordChangeEndsLoginTokens: a token from POST /v1/login stops at
// the user's next password change; a token an operator made does not.
func TestPasswordChangeEndsLoginTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	service := e.user("alice", aliceRights...)
	login := e.login("alice", "pw-alice")
	require.Equal(t, 200, e.req(login, "GET", "/v1/sessions", nil).status)
	require.NoError(t, e.users.SetPassword(context.Background(), "alice", "a new password"))
	r := e.req(login, "GET", "/v1/sessions", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "the login made with the old password: %s", r)
	require.Equal(t, 200, e.req(service, "GET", "/v1/sessions", nil).status, "the operator's token")
	require.Equal(t, 200, e.req(e.login("alice", "a new password"), "GET", "/v1/sessions", nil).status)
}

// TestLogout: POST /v1/logout revokes the request's token at once.
func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	e.user("alice", aliceRights...)
	tok := e.login("alice", "pw-alice")
	other := e.login("alice", "pw-alice")
	r := e.req(tok, "POST", "/v1/logout", nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r)
	r = e.req(tok, "GET", "/v1/sessions", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)
	require.Equal(t, http.StatusUnauthorized, e.req(tok, "POST", "/v1/logout", nil).status, "logged out already")
	require.Equal(t, 200, e.req(other, "GET", "/v1/sessions", nil).status, "another login of the same user goes on")
	require.Equal(t, http.StatusUnauthorized, e.req("", "POST", "/v1/logout", nil).status)
}

// lastAccess reads a session's last access straight from Redis.
func (e *env) lastAccess(s string) string {
	e.t.Helper()
	v, err := e.rdb.HGet(context.Background(), keys.Session(s), "la").Result()
	require.NoError(e.t, err)
	return v
}

// laterThan waits until Redis's clock is past millisecond ms (+1).
func (e *env) laterThan(ms string) {
	e.t.Helper()
	eventually(e.t, time.Second, func() bool {
		now, err := e.rdb.Time(context.Background()).Result()
		require.NoError(e.t, err)
		return now.UnixMilli() > mustInt(e.t, ms)+1
	}, "time to pass")
}

// TestImpersonateRevoked: a session opened through impersonate is usable
// by its opener only while they hold the right; a refused use leaves the
// idle timer alone; the owner goes on.
func TestImpersonateRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	ops := e.user("ops", users.Impersonate, users.ReadAll, users.WriteAll)
	r := e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice", "TID": "till-1"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	s := r.json(t)["sessionId"].(string)
	require.Equal(t, 200, e.req(ops, "GET", "/v1/sessions/"+s, nil).status)

	_, err := e.users.Revoke(context.Background(), "ops", users.Impersonate)
	require.NoError(t, err)
	before := e.lastAccess(s)
	e.laterThan(before)
	for _, c := range []struct {
		method, path string
		body         any
		hdr          []string
	}{
		{"GET", "/v1/sessions/" + s, nil, nil},
		{"PUT", "/v1/sessions/" + s + "/params/k", map[string]any{"value": "v"}, nil},
		{"POST", "/v1/jobs", map[string]any{"type": "echo"}, []string{"Sessionq-Session", s}},
	} {
		r = e.req(ops, c.method, c.path, c.body, c.hdr...)
		require.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", c.method, c.path, r)
		require.Equal(t, "session_not_found", r.code(t))
	}
	r = e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": false, "TID": "till-1"})
	require.Equal(t, http.StatusNotFound, r.status, "nor found by its TID: %s", r)
	require.Equal(t, before, e.lastAccess(s), "a refused use leaves the idle timer alone")
	require.Equal(t, 200, e.req(alice, "GET", "/v1/sessions/"+s, nil).status, "the owner goes on")
	require.NotEqual(t, before, e.lastAccess(s))
}

// TestPasswordOpenedSession: a session opened with the owner's password is
// usable by its opener until the owner's password changes.
func TestPasswordOpenedSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	carol := e.user("carol", aliceRights...)
	r := e.req(carol, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice", "password": "pw-alice"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	s := r.json(t)["sessionId"].(string)
	require.Equal(t, http.StatusNoContent, e.req(carol, "PUT", "/v1/sessions/"+s+"/params/k", map[string]any{"value": "v"}).status)
	require.NoError(t, e.users.SetPassword(context.Background(), "alice", "changed"))
	r = e.req(carol, "PUT", "/v1/sessions/"+s+"/params/k", map[string]any{"value": "carol was here"})
	require.Equal(t, http.StatusNotFound, r.status, "%s", r)
	r = e.req(alice, "GET", "/v1/sessions/"+s+"/params/k", nil)
	require.Equal(t, 200, r.status, "%s", r)
	require.Equal(t, "v", r.json(t)["value"])
}

// TestStreamsEndWhenTheRightGoes: an open event stream ends within seconds
// of its token being revoked, its login's password changing, or the
// impersonate right that opened its session being revoked.
func TestStreamsEndWhenTheRightGoes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, envOptions{noWorker: true, gateway: gateway.Config{Registry: reg}})
	ctx := context.Background()
	e.user("alice", aliceRights...)
	ops := e.user("ops", users.Impersonate, users.ReadAll, "submit:*/*")
	open := func() float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "sessionq_gateway_event_streams" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	// A job that never runs (no worker): its stream would last forever.
	job := func(tok string, hdr ...string) string {
		r := e.req(tok, "POST", "/v1/jobs", map[string]any{"type": "echo"}, hdr...)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r)
		return r.json(t)["id"].(string)
	}
	for _, c := range []struct {
		name   string
		open   func() (tok, path string)
		revoke func(tok string)
	}{
		{"token revoked, job stream", func() (string, string) {
			tok := e.login("alice", "pw-alice")
			return tok, "/v1/jobs/" + job(tok) + "/events"
		}, func(tok string) { require.NoError(t, e.users.RevokeTokenValue(ctx, tok)) }},
		{"password changed, session stream", func() (string, string) {
			tok := e.login("alice", "pw-alice")
			r := e.req(tok, "POST", "/v1/sessions", map[string]any{"createSession": true})
			return tok, "/v1/sessions/" + r.json(t)["sessionId"].(string) + "/events"
		}, func(string) { require.NoError(t, e.users.SetPassword(ctx, "alice", "pw-alice")) }},
		{"impersonate revoked, session stream", func() (string, string) {
			r := e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice"})
			return ops, "/v1/sessions/" + r.json(t)["sessionId"].(string) + "/events"
		}, func(string) {
			_, err := e.users.Revoke(ctx, "ops", users.Impersonate)
			require.NoError(t, err)
		}},
		{"impersonate revoked, job stream of the session", func() (string, string) {
			_, err := e.users.Grant(ctx, "ops", users.Impersonate)
			require.NoError(t, err)
			r := e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice"})
			s := r.json(t)["sessionId"].(string)
			id := job(ops, "Sessionq-Session", s)
			return ops, "/v1/jobs/" + id + "/events?sessionId=" + s
		}, func(string) {
			_, err := e.users.Revoke(ctx, "ops", users.Impersonate)
			require.NoError(t, err)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, path := c.open()
			var revoked time.Time
			start := time.Now()
			evs := e.events(tok, path, func() {
				// While the right holds, the stream lives past its re-checks.
				eventually(t, 5*time.Second, func() bool { return time.Since(start) > 3*time.Second/2 }, "a re-check")
				require.Equal(t, 1.0, open(), "the stream is open while the right holds")
				revoked = time.Now()
				c.revoke(tok)
			})
			require.Less(t, time.Since(revoked), 5*time.Second, "the stream ended soon after (the client waits 30s)")
			for _, ev := range evs {
				require.NotEqual(t, "session", ev.name, "the session did not end: the stream did: %v", evs)
			}
		})
	}
}

// trustLoopback makes every loopback peer a trusted proxy, so that tests
// choose their client address with X-Forwarded-For.
func trustLoopback(c gateway.Config) gateway.Config {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	return c
}

func from(addr string) []string { return []string{"X-Forwarded-For", addr + ", 127.0.0.1"} }

// TestLoginCannotLockOut: failures for alice from one address never block
// her correct password from another; they do block more guesses from
// that address, on /v1/login, establish with a password and /ui/login.
func TestLoginCannotLockOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true, gateway: trustLoopback(gateway.Config{})})
	gateway.FreezeLoginClock(e.srv) // backoffs do not run out under the test
	e.user("alice", aliceRights...)
	carol := e.user("carol", aliceRights...)
	attacker, real := from("203.0.113.7"), from("198.51.100.9")
	var limited int
	for range 12 {
		r := e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "guess"}, attacker...)
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests}, r.status, "%s", r)
		if r.status == http.StatusTooManyRequests {
			limited++
			require.Equal(t, "rate_limited", r.code(t))
		}
	}
	require.GreaterOrEqual(t, limited, 8, "the attacker's address backs off after 3 failures")
	require.Equal(t, 200, e.req(e.login("alice", "pw-alice", real...), "GET", "/v1/sessions", nil).status,
		"alice's password from her own address works")
	r := e.req(carol, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice", "password": "pw-alice"}, real...)
	require.Equal(t, http.StatusCreated, r.status, "%s", r)

	// The attacker's address is backing off, even with the right password,
	// on every way to check one.
	r = e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "pw-alice"}, attacker...)
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r)
	r = e.req(carol, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice", "password": "pw-alice"}, attacker...)
	require.Equal(t, http.StatusTooManyRequests, r.status, "establish with a password: %s", r)
	form := "user=alice&password=pw-alice"
	for _, c := range []struct {
		hdr  []string
		want int
	}{{attacker, http.StatusTooManyRequests}, {real, http.StatusSeeOther}} {
		req, err := http.NewRequest("POST", e.base+"/ui/login", strings.NewReader(form))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(c.hdr[0], c.hdr[1])
		hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := hc.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, c.want, res.StatusCode, "/ui/login from %s", c.hdr[1])
	}
}

// TestXForwardedForFromUntrustedPeer: without trusted proxies, a client
// cannot dodge the throttle by changing X-Forwarded-For.
func TestXForwardedForFromUntrustedPeer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	gateway.FreezeLoginClock(e.srv)
	e.user("alice", aliceRights...)
	var last *resp
	for i := range 5 {
		last = e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "guess"},
			"X-Forwarded-For", "192.0.2."+string(rune('1'+i)))
	}
	require.Equal(t, http.StatusTooManyRequests, last.status, "one peer, whatever it claims: %s", last)
}

// TestLoginFailureCeiling: past the ceiling of failures a minute, from
// any addresses for any names, password checks answer 429; a user and
// address that logged in before still may.
func TestLoginFailureCeiling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true, gateway: trustLoopback(gateway.Config{LoginFailureCeiling: 5})})
	gateway.FreezeLoginClock(e.srv)
	e.user("alice", aliceRights...)
	e.login("alice", "pw-alice", from("198.51.100.9")...)
	for i := range 5 {
		r := e.req("", "POST", "/v1/login", map[string]any{"user": "user" + string(rune('a'+i)), "password": "guess"},
			from("203.0.113."+string(rune('1'+i)))...)
		require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)
	}
	r := e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "pw-alice"}, from("192.0.2.1")...)
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r)
	require.Equal(t, "rate_limited", r.code(t))
	e.login("alice", "pw-alice", from("198.51.100.9")...)
}
