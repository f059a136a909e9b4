package cli

import (
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// --redis-wait-replicas 1: a submit is acknowledged once a replica has it,
// and fails, printing no job ID, while the replica does not acknowledge.
func TestRedisWaitReplicas(t *testing.T) {
	t.Parallel()
	primary := redistest.Spawn(t, redistest.SpawnOptions{})
	replica := redistest.Spawn(t, redistest.SpawnOptions{ReplicaOf: primary.Addr})
	primary.WaitReplicas(t, 1)

	args := []string{"submit", "--redis", primary.URL(), "--redis-wait-replicas", "1", "--type", "t", "--session", "s1"}
	out, _, err := run(t, append(args, "--redis-wait-timeout", "2s")...)
	require.NoError(t, err)
	require.NotEmpty(t, strings.TrimSpace(out))

	pid := replica.PID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	out, _, err = run(t, append(args, "--redis-wait-timeout", "300ms")...)
	require.ErrorContains(t, err, "not acknowledged by enough replicas")
	require.Empty(t, strings.TrimSpace(out), "no job ID is printed: the submit was not acknowledged")
}

func TestRedisWaitReplicasErrors(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--redis-wait-replicas", "-1"}, "redis.wait_replicas -1"},
		{[]string{"--redis-wait-replicas", "99"}, "redis.wait_replicas 99"},
		{[]string{"--redis-wait-replicas", "1", "--redis-wait-timeout", "0s"}, "redis.wait_timeout 0s"},
		{[]string{"--redis-wait-replicas", "1", "--redis-wait-timeout", "1h"}, "shorter than the client's read timeout"},
		{[]string{"--redis-wait-replicas", "1", "--redis-mode", "cluster"}, "not supported in cluster mode"},
	} {
		args := append([]string{"submit", "--redis", url, "--type", "t"}, tc.args...)
		_, _, err := run(t, args...)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
}
