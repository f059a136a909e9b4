package gateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	for _, tok := range []string{"", "sqt_nope", "not-even-a-token"} {
		for _, rt := range [][2]string{{"GET", "/v1/sessions"}, {"POST", "/v1/jobs"}, {"GET", "/v1/jobs/j1"}, {"GET", "/v1/dead"}} {
			r := e.req(tok, rt[0], rt[1], nil)
			require.Equal(t, http.StatusUnauthorized, r.status, "%s %s with %q: %s", rt[0], rt[1], tok, r)
			require.Equal(t, "unauthenticated", r.code(t))
		}
	}
}

func TestSubmitNeedsAGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	bob := e.user("bob", users.ReadOwn, "submit:default/doc.*")
	for _, c := range []struct {
		typ, queue string
		want       int
	}{
		{"doc.render", "", http.StatusAccepted},
		{"doc.render", "default", http.StatusAccepted},
		{"echo", "", http.StatusForbidden},
		{"doc.render", "urgent", http.StatusForbidden},
	} {
		r := e.req(bob, "POST", "/v1/jobs", map[string]any{"type": c.typ, "queue": c.queue})
		require.Equal(t, c.want, r.status, "%s on %q: %s", c.typ, c.queue, r)
	}
	// In a session, the owner's grants count, not the connection's.
	ops := e.user("ops", users.Impersonate, users.ReadAll, "submit:*/*")
	r := e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "bob"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	s := r.json(t)["sessionId"].(string)
	r = e.req(ops, "POST", "/v1/jobs", map[string]any{"type": "echo"}, "Sessionq-Session", s)
	require.Equal(t, http.StatusForbidden, r.status, "bob may not submit echo, so ops in bob's session may not: %s", r)
	r = e.req(ops, "POST", "/v1/jobs", map[string]any{"type": "doc.x"}, "Sessionq-Session", s)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r)
}

// TestOtherUsersSessionsDoNotExist: user B cannot read, write, list, use
// or follow user A's session, nor read A's jobs; each answer is the one an
// unknown session gets.
func TestOtherUsersSessionsDoNotExist(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	bob := e.user("bob", aliceRights...)
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true, "TID": "t-a"})
	s := r.json(t)["sessionId"].(string)
	require.Equal(t, http.StatusNoContent, e.req(alice, "PUT", "/v1/sessions/"+s+"/params/k", map[string]any{"value": "v"}).status)
	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo"}, "Sessionq-Session", s)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r)
	aliceJob := r.json(t)["id"].(string)
	unknown := sessiontable.NewID()

	for _, sid := range []string{s, unknown} {
		for _, c := range []struct {
			method, path string
			body         any
			hdr          []string
		}{
			{"GET", "/v1/sessions/" + sid, nil, nil},
			{"GET", "/v1/sessions/" + sid + "/params", nil, nil},
			{"GET", "/v1/sessions/" + sid + "/params/k", nil, nil},
			{"PUT", "/v1/sessions/" + sid + "/params/k", map[string]any{"value": "bob was here"}, nil},
			{"DELETE", "/v1/sessions/" + sid + "/params/k", nil, nil},
			{"GET", "/v1/sessions/" + sid + "/files", nil, nil},
			{"PUT", "/v1/sessions/" + sid + "/files/f", []byte("x"), nil},
			{"DELETE", "/v1/sessions/" + sid, nil, nil},
			{"GET", "/v1/sessions/" + sid + "/events", nil, nil},
			{"POST", "/v1/jobs", map[string]any{"type": "echo"}, []string{"Sessionq-Session", sid}},
			{"GET", "/v1/sessions", nil, []string{"Sessionq-Session", sid}},
		} {
			r := e.req(bob, c.method, c.path, c.body, c.hdr...)
			require.Equal(t, http.StatusNotFound, r.status, "bob: %s %s: %s", c.method, c.path, r)
			require.Equal(t, "session_not_found", r.code(t), "%s %s", c.method, c.path)
		}
	}
	r = e.req(bob, "POST", "/v1/sessions", map[string]any{"createSession": false, "TID": "t-a"})
	require.Equal(t, http.StatusNotFound, r.status, "bob cannot find alice's session by its TID: %s", r)
	r = e.req(bob, "GET", "/v1/sessions", nil)
	require.Equal(t, []any{}, r.json(t)["sessions"], "bob lists none of alice's sessions")
	for _, p := range []string{"/v1/jobs/" + aliceJob, "/v1/jobs/" + aliceJob + "/events"} {
		r = e.req(bob, "GET", p, nil)
		require.Equal(t, http.StatusNotFound, r.status, "%s: %s", p, r)
		require.Equal(t, "job_not_found", r.code(t))
	}
	r = e.req(bob, "DELETE", "/v1/jobs/"+aliceJob, nil)
	require.Equal(t, http.StatusNotFound, r.status, "%s", r)

	// Nothing of bob's reached alice's session.
	v, err := e.tbl.Param(context.Background(), s, "k", sessiontable.OutOfSession())
	require.NoError(t, err)
	require.Equal(t, "v", v)

	// A user with read:all lists and reads her jobs; admin uses her session.
	auditor := e.user("auditor", users.ReadAll)
	r = e.req(auditor, "GET", "/v1/sessions", nil)
	require.Len(t, r.json(t)["sessions"], 1)
	require.Equal(t, 200, e.req(auditor, "GET", "/v1/jobs/"+aliceJob, nil).status)
	require.Equal(t, http.StatusNotFound, e.req(auditor, "GET", "/v1/sessions/"+s, nil).status, "read:all does not make a session usable")
	root := e.user("root", users.Admin)
	require.Equal(t, 200, e.req(root, "GET", "/v1/sessions/"+s+"/params", nil).status)
}

// TestImpersonate: opening a session for another user needs their
// password or the impersonate right.
func TestImpersonate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	e.user("alice", aliceRights...)
	carol := e.user("carol", aliceRights...)
	ops := e.user("ops", users.Impersonate, users.ReadAll)

	r := e.req(carol, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice"})
	require.Equal(t, http.StatusForbidden, r.status, "%s", r)
	require.Equal(t, "forbidden", r.code(t))
	r = e.req(carol, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice", "password": "wrong"})
	require.Equal(t, http.StatusForbidden, r.status, "%s", r)
	r = e.req(carol, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice", "password": "pw-alice"})
	require.Equal(t, http.StatusCreated, r.status, "with alice's password: %s", r)
	require.Equal(t, "alice", r.json(t)["session"].(map[string]any)["owner"])
	r = e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice"})
	require.Equal(t, http.StatusCreated, r.status, "impersonate needs no password: %s", r)
	m := r.json(t)["session"].(map[string]any)
	require.Equal(t, "alice", m["owner"])
	require.Equal(t, "ops", m["openedBy"])
	r = e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "nobody"})
	require.Equal(t, http.StatusNotFound, r.status, "never for a name that is no user: %s", r)
	require.Equal(t, "user_not_found", r.code(t))
}

// TestReadsCappedByTheConnection: a session opened by a connection whose
// user lacks read:all cannot read what its owner could; writes use the
// owner's rights.
func TestReadsCappedByTheConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	weak := e.user("weak", users.Impersonate, users.ReadOwn)
	strong := e.user("strong", users.Impersonate, users.ReadAll)

	for _, c := range []struct {
		tok      string
		wantRead int
	}{{weak, http.StatusNotFound}, {strong, http.StatusOK}} {
		r := e.req(c.tok, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice"})
		require.Equal(t, http.StatusCreated, r.status, "%s", r)
		s := r.json(t)["sessionId"].(string)
		// Writes act as alice, who has write:own.
		r = e.req(c.tok, "PUT", "/v1/sessions/"+s+"/params/k", map[string]any{"value": "v"})
		require.Equal(t, http.StatusNoContent, r.status, "%s", r)
		r = e.req(c.tok, "GET", "/v1/sessions/"+s+"/params/k", nil)
		require.Equal(t, c.wantRead, r.status, "%s", r)
		// alice, the owner, reads it.
		r = e.req(alice, "GET", "/v1/sessions/"+s+"/params/k", nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r)
	}

	// An owner without write:own cannot write, whoever opened the session.
	e.user("reader", users.ReadOwn)
	r := e.req(strong, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "reader"})
	s := r.json(t)["sessionId"].(string)
	r = e.req(strong, "PUT", "/v1/sessions/"+s+"/params/k", map[string]any{"value": "v"})
	require.Equal(t, http.StatusForbidden, r.status, "%s", r)
}

func TestRevokedTokenStopsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	ctx := context.Background()
	require.Equal(t, 200, e.req(alice, "GET", "/v1/sessions", nil).status)
	toks, err := e.users.Tokens(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, toks, 1)
	require.NoError(t, e.users.RevokeToken(ctx, "alice", toks[0].ID))
	r := e.req(alice, "GET", "/v1/sessions", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)

	bob := e.user("bob", aliceRights...)
	require.Equal(t, 200, e.req(bob, "GET", "/v1/sessions", nil).status)
	require.NoError(t, e.users.Remove(ctx, "bob"))
	require.Equal(t, http.StatusUnauthorized, e.req(bob, "GET", "/v1/sessions", nil).status, "a removed user's tokens stop too")
}

func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true, table: sessiontable.Config{MaxSessionsPerOwner: 2}})
	alice := e.user("alice", aliceRights...)
	ops := e.user("ops", users.Impersonate)
	require.Equal(t, http.StatusCreated, e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true}).status)
	require.Equal(t, http.StatusCreated, e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice"}).status)
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true})
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r)
	require.Equal(t, "quota_exceeded", r.code(t))
	require.Equal(t, http.StatusCreated, e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true}).status, "ops has a quota of its own")
}

// TestLogin: a wrong user and a wrong password get the same answer;
// attempts are rate limited per user and client address together.
func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true, gateway: gatewayConfig(3)})
	gateway.FreezeLoginClock(e.srv) // the minute does not run out under the test
	e.user("alice", aliceRights...)
	wrongPw := e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "nope"})
	wrongUser := e.req("", "POST", "/v1/login", map[string]any{"user": "mallory", "password": "nope"})
	require.Equal(t, http.StatusUnauthorized, wrongPw.status)
	require.Equal(t, wrongPw.status, wrongUser.status)
	require.Equal(t, string(wrongPw.body), string(wrongUser.body))
	for range 2 {
		r := e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "pw-alice"})
		require.Equal(t, http.StatusOK, r.status, "%s", r)
	}
	// alice from this address has used her 3 attempts of the minute.
	r := e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "pw-alice"})
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r)
	require.Equal(t, "rate_limited", r.code(t))
	// From another address she is not: the limit is per user and address.
	other := clientFrom(t, "127.0.0.2")
	r = e.reqWith(other, "", "POST", "/v1/login", map[string]any{"user": "alice", "password": "pw-alice"})
	require.Equal(t, http.StatusOK, r.status, "per user and address: %s", r)
}
