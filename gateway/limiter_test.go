package gateway

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestThrottleBackoff: after three failures a pair waits 1s, 2s, 4s...
// before its next attempt; a success resets it; another address of the
// same user is not delayed.
func TestThrottleBackoff(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	th := newThrottle(1000, 10_000)
	th.now = func() time.Time { return now }
	// try makes one attempt that fails; refused, it answers the wait.
	try := func(user, addr string) time.Duration {
		at, wait := th.begin(user, addr)
		if at == nil {
			return wait
		}
		at.done(false)
		return 0
	}
	var waits []time.Duration
	for range 11 {
		if w := try("alice", "x"); w > 0 {
			waits = append(waits, w)
			now = now.Add(w)
		}
	}
	// 3 failures free, then each failure doubles the wait.
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, waits)
	require.Equal(t, 16*time.Second, try("alice", "x"), "after 7 failures")
	at, wait := th.begin("alice", "y")
	require.NotNil(t, at, "another address is not delayed (%s)", wait)
	at.done(true)

	now = now.Add(time.Hour)
	at, _ = th.begin("alice", "x")
	require.NotNil(t, at)
	at.done(true)
	for range 3 {
		require.Zero(t, try("alice", "x"), "a success resets the backoff")
	}
	require.Equal(t, time.Second, try("alice", "x"))
	require.Equal(t, maxBackoff, backoff(100))
}

// TestThrottleAddressAndCeiling: an address spraying names is stopped at
// 3*rate failures a minute; past the global ceiling only pairs that
// succeeded before may try.
func TestThrottleAddressAndCeiling(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	th := newThrottle(2, 8)
	th.now = func() time.Time { return now }
	at, _ := th.begin("alice", "home")
	at.done(true)
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, n := range names {
		at, wait := th.begin(n, "spray")
		require.NotNil(t, at, "%s: %s", n, wait)
		at.done(false)
	}
	_, wait := th.begin("g", "spray")
	require.Positive(t, wait, "the address sprayed 6 names")
	at, _ = th.begin("h", "other")
	require.NotNil(t, at)
	at.done(false)
	at, _ = th.begin("i", "third")
	require.NotNil(t, at)
	at.done(false)
	_, wait = th.begin("j", "fourth")
	require.Positive(t, wait, "8 failures: the ceiling")
	at, _ = th.begin("alice", "home")
	require.NotNil(t, at, "a pair that logged in before passes the ceiling")
	now = now.Add(time.Minute)
	at, _ = th.begin("j", "fourth")
	require.NotNil(t, at, "the ceiling refills")
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}}}
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"192.0.2.1:5000", []string{"203.0.113.9"}, "192.0.2.1"},
		{"127.0.0.1:5000", nil, "127.0.0.1"},
		{"127.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"127.0.0.1:5000", []string{"6.6.6.6, 203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"127.0.0.1:5000", []string{"6.6.6.6", "203.0.113.9:443, 10.1.2.3"}, "203.0.113.9"},
		{"127.0.0.1:5000", []string{"10.9.9.9, 10.1.2.3"}, "10.9.9.9"},
		{"[::ffff:127.0.0.1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		require.Equal(t, c.want, s.clientAddr(c.peer, c.xff), "%s %v", c.peer, c.xff)
	}
	s.cfg.TrustedProxies = nil
	require.Equal(t, "127.0.0.1", s.clientAddr("127.0.0.1:1", []string{"203.0.113.9"}))
}
