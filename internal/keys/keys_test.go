package keys

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every key of a session carries the session's hash tag, so a Lua script
// on several of them touches one Redis Cluster slot.
func TestSessionKeysShareOneHashTag(t *testing.T) {
	t.Parallel()
	for _, k := range []string{Run("s-1"), Pending("s-1"), Job("s-1", "j"), JobPrefix("s-1") + "x", Session("s-1")} {
		require.True(t, strings.HasPrefix(k, "sq:{s-1}:"), k)
	}
	s, ok := SessionFromPending(Pending("report-42"))
	require.True(t, ok)
	require.Equal(t, "report-42", s)
	for _, bad := range []string{"", "sq:{x}:run", "sq:{}:pen", "foo", "sq:{"} {
		_, ok := SessionFromPending(bad)
		require.False(t, ok, bad)
	}
}

// SessionFromPending inverts Pending for any session ID, and never panics.
func FuzzSessionFromPending(f *testing.F) {
	f.Add("s")
	f.Add("")
	f.Add("}:pend")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := SessionFromPending(Pending(s))
		if !ok || got != s {
			t.Fatalf("SessionFromPending(Pending(%q)) = %q, %v", s, got, ok)
		}
		_, _ = SessionFromPending(s)
	})
}

// The idempotency binding of a job shares the job index's hash tag: the
// binding script reads both in one call.
func TestIdempotencyBindingSharesTheIndexSlot(t *testing.T) {
	t.Parallel()
	tag := func(k string) string { return k[strings.Index(k, "{") : strings.Index(k, "}")+1] }
	require.Equal(t, tag(JobIndex("kabc")), tag(Idempotency("kabc")))
	require.NotEqual(t, JobIndex("kabc"), Idempotency("kabc"))
}

// Each owner has a TID namespace of its own.
func TestTIDsArePerOwner(t *testing.T) {
	t.Parallel()
	require.NotEqual(t, TID("alice", "t-1"), TID("bob", "t-1"))
	require.NotEqual(t, TID("a", "b-c"), TID("a-b", "c"))
}
