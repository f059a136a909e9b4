package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// POST /v1/jobs warns, in a header and in the body, when no live worker
// handles the job's type, and the job waits in state waiting_for_handler,
// as the warning says; a type that a live worker handles gets no warning.
func TestSubmitWarnsWhenNoWorkerHandlesType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	alice := e.user("alice", aliceRights...)

	r := e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "echo", "payload": "x"})
	require.Equal(t, 202, r.status, "%s", r)
	require.Empty(t, r.hdr.Get("Sessionq-Warning"))
	require.NotContains(t, r.json(t), "warning")
	require.Equal(t, "succeeded", e.waitJob(alice, r.json(t)["id"].(string))["state"])

	r = e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "nobody.here", "maxRetry": 0})
	require.Equal(t, 202, r.status, "%s", r)
	const want = `no live worker handles job type "nobody.here"; the job waits (state waiting_for_handler) until a worker that handles it joins`
	require.Equal(t, want, r.hdr.Get("Sessionq-Warning"))
	require.Equal(t, want, r.json(t)["warning"])
	id := r.json(t)["id"].(string)
	// The worker takes it, hands it back unopened, and it waits, charged
	// nothing.
	var last map[string]any
	eventually(t, 10*time.Second, func() bool {
		r = e.req(alice, "GET", "/v1/jobs/"+id, nil)
		require.Equal(t, 200, r.status, "%s", r)
		last = r.json(t)
		require.Equal(t, "waiting_for_handler", last["state"], "%s", r)
		msg, _ := last["lastError"].(string)
		return strings.Contains(msg, "handed back unopened")
	}, "the worker hands the job back")
	require.EqualValues(t, 0, last["attempts"], "%v", last)
}
