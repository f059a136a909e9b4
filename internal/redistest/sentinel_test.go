package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// The sentinel set fails over: after kill -9 of the primary the replica is
// promoted, a failover client follows it with the data written before, and
// the former primary, restarted as a replica of the new one, replicates it.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := redistest.Sentinel(t, redistest.SentinelOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := s.Client(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	// One replica has the write before the primary dies.
	n, err := c.Do(ctx, "WAIT", 1, 5000).Int()
	require.NoError(t, err)
	require.Equal(t, 1, n)

	old, err := s.Master(ctx)
	require.NoError(t, err)
	require.Equal(t, s.Servers[0].Addr, old)
	require.NoError(t, s.Server(old).Kill())
	promoted, err := s.WaitFailover(ctx, old)
	require.NoError(t, err)
	require.Equal(t, s.Servers[1].Addr, promoted)

	require.Eventually(t, func() bool { return c.Get(ctx, "k").Val() == "v" }, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, c.Set(ctx, "k2", "v2", 0).Err())

	require.NoError(t, s.Server(old).RestartAsReplica(promoted))
	require.NoError(t, s.WaitReplicaOf(ctx, old, promoted))
	require.NoError(t, c.Set(ctx, "k3", "v3", 0).Err())
	n, err = c.Do(ctx, "WAIT", 1, 5000).Int()
	require.NoError(t, err)
	require.Equal(t, 1, n, "the former primary replicates the new one")
}
