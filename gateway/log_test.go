package gateway_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLogKeepsSecrets: one access log line per request, with the
// user, and never a token, a password, a query or a body.
func TestAccessLogKeepsSecrets(t *testing.T) {
	t.Parallel()
	var buf syncBuf
	e := newEnv(t, envOptions{noWorker: true, gateway: gateway.Config{
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}})
	alice := e.user("alice", aliceRights...)
	r := e.req("", "POST", "/v1/login", map[string]any{"user": "alice", "password": "pw-alice"})
	require.Equal(t, 200, r.status)
	tok := r.json(t)["token"].(string)
	r = e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true, "TID": "secret-tid"})
	s := r.json(t)["sessionId"].(string)
	e.req(tok, "GET", "/v1/sessions/"+s+"/params?applicationId=app-secret", nil)
	e.req("sqt_alice_"+strings.Repeat("a", 52), "GET", "/v1/sessions", nil)
	out := buf.String()
	for _, secret := range []string{"pw-alice", tok, alice, "secret-tid", "app-secret", strings.Repeat("a", 52)} {
		require.NotContains(t, out, secret)
	}
	require.Contains(t, out, "route=/v1/sessions/{id}/params")
	require.Contains(t, out, "status=401")
	require.Contains(t, out, "user=alice")
}
