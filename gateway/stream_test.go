package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
)

// TestEventStreamOutlivesWriteTimeout: an event stream is exempt from the
// server's write timeout, and Stop ends open streams.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	// 2s, not less: the harness's first request (the OpenAPI document, built on
	// first use) must fit in it too on a loaded machine.
	const wt = 2 * time.Second
	e := newEnv(t, envOptions{gateway: gateway.Config{WriteTimeout: wt}})
	alice := e.user("alice", aliceRights...)
	r := e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "block"})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r)
	id := r.json(t)["id"].(string)
	start := time.Now()
	evs := e.events(alice, "/v1/jobs/"+id+"/events", func() {
		// The state must be running before the release, and the stream
		// older than the write timeout.
		eventually(t, 10*time.Second, func() bool {
			in, err := e.jobs.Get(t.Context(), id)
			require.NoError(t, err)
			return in.State == "running" && time.Since(start) > 2*wt
		}, "the job to run past the write timeout")
		close(e.release)
	})
	require.GreaterOrEqual(t, len(evs), 2, "%v", evs)
	require.True(t, strings.Contains(evs[len(evs)-1].data, `"state":"succeeded"`), "the end arrived after the write timeout: %v", evs)
}

// TestStopEndsStreams: Stop ends open event streams instead of waiting for
// them, and is safe to call twice.
func TestStopEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true, gateway: gateway.Config{ShutdownGrace: time.Minute}})
	alice := e.user("alice", aliceRights...)
	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true})
	s := r.json(t)["sessionId"].(string)
	start := time.Now()
	e.events(alice, "/v1/sessions/"+s+"/events", e.srv.Stop)
	require.Less(t, time.Since(start), 10*time.Second, "the stream ended long before the grace (1m) and the client timeout (30s)")
	e.srv.Stop()
}
