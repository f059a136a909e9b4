package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
)

// dump is every key of the env's database with its serialized value: two
// equal dumps mean nothing was written in between, but for the last access
// of a session record, which every request in the session refreshes.
func (e *env) dump(t testing.TB) map[string]string {
	t.Helper()
	ctx := context.Background()
	ks, err := e.rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	out := make(map[string]string, len(ks))
	for _, k := range ks {
		if strings.HasSuffix(k, "}:sess") {
			m, err := e.rdb.HGetAll(ctx, k).Result()
			require.NoError(t, err)
			delete(m, "la")
			out[k] = fmt.Sprint(m)
			continue
		}
		v, err := e.rdb.Dump(ctx, k).Result()
		require.NoError(t, err)
		out[k] = v
	}
	return out
}

// submitted checks a 202 answer and returns its ID and existing flag.
func submitted(t *testing.T, r *resp) (string, bool) {
	t.Helper()
	require.Equal(t, http.StatusAccepted, r.status, "%s", r)
	m := r.json(t)
	return m["id"].(string), m["existing"].(bool)
}

// Idempotency keys live in the acting user's namespace: one user's key
// never names, reveals or takes over another user's job.
func TestIdempotencyKeysPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	bob := e.user("bob", aliceRights...)
	ctx := context.Background()

	// Alice's session job with key pay-run-2, then Bob's plain job with the
	// same key: Bob gets a new job of his own.
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	s := r.json(t)["sessionId"].(string)
	aliceJob, existing := submitted(t, e.req(alice, "POST", "/v1/jobs",
		map[string]any{"type": "echo", "payload": "alice's", "idempotencyKey": "pay-run-2"}, "Sessionq-Session", s))
	require.False(t, existing)
	bobJob, existing := submitted(t, e.req(bob, "POST", "/v1/jobs",
		map[string]any{"type": "echo", "payload": "bob's", "idempotencyKey": "pay-run-2"}))
	require.False(t, existing, "bob learnt that alice used the key")
	require.NotEqual(t, aliceJob, bobJob, "bob's submit named alice's job")

	r = e.req(alice, "GET", "/v1/jobs/"+aliceJob, nil)
	require.Equal(t, http.StatusOK, r.status, "alice lost her job: %s", r)
	require.Equal(t, "alice", r.json(t)["owner"])
	require.Equal(t, s, r.json(t)["sessionId"])
	require.Equal(t, "alice's", r.json(t)["payload"])
	require.Equal(t, "alice", e.rdb.HGet(ctx, keys.GatewayJob(aliceJob), "owner").Val())
	for _, m := range []string{"GET", "DELETE"} {
		r = e.req(bob, m, "/v1/jobs/"+aliceJob, nil)
		require.Equal(t, http.StatusNotFound, r.status, "bob: %s alice's job: %s", m, r)
	}
	r = e.req(bob, "GET", "/v1/jobs/"+bobJob, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "bob", r.json(t)["owner"])
	require.Equal(t, "bob's", r.json(t)["payload"])
	require.Nil(t, r.json(t)["sessionId"])

	// Squatting: Bob first with a guessable key, then Alice; each gets a
	// job of their own, and neither learns of the other's.
	bobInv, existing := submitted(t, e.req(bob, "POST", "/v1/jobs",
		map[string]any{"type": "echo", "idempotencyKey": "invoice-2026-001"}))
	require.False(t, existing)
	aliceInv, existing := submitted(t, e.req(alice, "POST", "/v1/jobs",
		map[string]any{"type": "echo", "idempotencyKey": "invoice-2026-001"}))
	require.False(t, existing, "alice was handed bob's job")
	require.NotEqual(t, bobInv, aliceInv)
	require.Equal(t, http.StatusOK, e.req(alice, "GET", "/v1/jobs/"+aliceInv, nil).status)
	require.Equal(t, http.StatusNotFound, e.req(alice, "GET", "/v1/jobs/"+bobInv, nil).status)
	require.Equal(t, http.StatusNotFound, e.req(bob, "GET", "/v1/jobs/"+aliceInv, nil).status)
	// Each user's repeat is still their own job.
	again, existing := submitted(t, e.req(alice, "POST", "/v1/jobs",
		map[string]any{"type": "echo", "idempotencyKey": "invoice-2026-001"}))
	require.True(t, existing)
	require.Equal(t, aliceInv, again)

	// Within one user a key is bound to its first submit's kind: a plain
	// job's key reused for a session job is a conflict that changes
	// nothing.
	plain, _ := submitted(t, e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo", "idempotencyKey": "k-x"}))
	before := e.dump(t)
	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo", "idempotencyKey": "k-x"}, "Sessionq-Session", s)
	require.Equal(t, http.StatusConflict, r.status, "%s", r)
	require.Equal(t, "idempotency_conflict", r.code(t))
	require.Contains(t, r.json(t)["error"].(map[string]any)["message"], "k-x")
	require.Equal(t, before, e.dump(t), "a conflicting submit changed Redis")
	r = e.req(alice, "GET", "/v1/jobs/"+plain, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Nil(t, r.json(t)["sessionId"], "the plain job became a session job")
	// And the other way round.
	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo", "idempotencyKey": "pay-run-2"})
	require.Equal(t, http.StatusConflict, r.status, "%s", r)
	require.Equal(t, "idempotency_conflict", r.code(t))
}

// TIDs live in the session owner's namespace: users bind the same TID to
// sessions of their own, and another user's TID neither blocks nor shows.
func TestTIDsPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	bob := e.user("bob", aliceRights...)
	establish := func(tok string, body map[string]any) (int, string) {
		t.Helper()
		r := e.req(tok, "POST", "/v1/sessions", body)
		if r.status >= 300 {
			return r.status, ""
		}
		return r.status, r.json(t)["sessionId"].(string)
	}

	st, aliceT1 := establish(alice, map[string]any{"createSession": true, "TID": "t-1"})
	require.Equal(t, http.StatusCreated, st)
	st, bobT1 := establish(bob, map[string]any{"createSession": true, "TID": "t-1"})
	require.Equal(t, http.StatusCreated, st, "alice's TID blocked bob's")
	require.NotEqual(t, aliceT1, bobT1)
	st, found := establish(bob, map[string]any{"createSession": false, "TID": "t-1"})
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, bobT1, found)
	st, found = establish(alice, map[string]any{"createSession": false, "TID": "t-1"})
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, aliceT1, found)

	// Alice alone has t-2: Bob's lookup is 404 and his create 201, no
	// oracle; Alice still finds hers.
	st, aliceT2 := establish(alice, map[string]any{"createSession": true, "TID": "t-2"})
	require.Equal(t, http.StatusCreated, st)
	r := e.req(bob, "POST", "/v1/sessions", map[string]any{"createSession": false, "TID": "t-2"})
	require.Equal(t, http.StatusNotFound, r.status, "%s", r)
	require.Equal(t, "session_not_found", r.code(t))
	st, bobT2 := establish(bob, map[string]any{"createSession": true, "TID": "t-2"})
	require.Equal(t, http.StatusCreated, st, "bob's create of alice's TID answered otherwise than of a free one")
	st, found = establish(alice, map[string]any{"createSession": false, "TID": "t-2"})
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, aliceT2, found, "bob took alice's TID")
	require.NotEqual(t, bobT2, aliceT2)

	// Within one user a TID still names one live session.
	st, _ = establish(alice, map[string]any{"createSession": true, "TID": "t-1"})
	require.Equal(t, http.StatusConflict, st)

	// Opening for another user binds in that user's namespace.
	ops := e.user("ops", "impersonate", "read:all", "write:all")
	st, opsForBob := establish(ops, map[string]any{"createSession": true, "TID": "t-3", "user": "bob"})
	require.Equal(t, http.StatusCreated, st)
	st, found = establish(bob, map[string]any{"createSession": false, "TID": "t-3"})
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, opsForBob, found)
	st, found = establish(ops, map[string]any{"createSession": false, "TID": "t-3", "user": "bob"})
	require.Equal(t, http.StatusOK, st, "a lookup for bob looked elsewhere than in bob's namespace")
	require.Equal(t, opsForBob, found)
	st, _ = establish(ops, map[string]any{"createSession": false, "TID": "t-3"})
	require.Equal(t, http.StatusNotFound, st, "bob's TID showed in ops's namespace")
}
