package durable_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/durable"
	"github.com/sessionq/sessionq/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// waitClient is a client on addr whose writes wait for one replica for up
// to timeout (its read timeout is longer).
func waitClient(t *testing.T, addr string, timeout time.Duration) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 10 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, durable.Install(c, durable.Config{Replicas: 1, Timeout: timeout}))
	return c
}

// pair starts a primary and a replica in sync with it.
func pair(t *testing.T) (primary, replica *redistest.Proc) {
	t.Helper()
	primary = redistest.Spawn(t, redistest.SpawnOptions{})
	replica = redistest.Spawn(t, redistest.SpawnOptions{ReplicaOf: primary.Addr})
	primary.WaitReplicas(t, 1)
	return primary, replica
}

// waits returns how many WAIT commands the server has run.
func waits(t *testing.T, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_wait:calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			require.NoError(t, err)
			return n
		}
	}
	return 0
}

var script = redis.NewScript(`return redis.call('INCR', KEYS[1])`)

// Every kind of write (a command, a script, a pipeline) is followed by one
// WAIT and succeeds while the replica acknowledges; reads are not.
func TestWritesWaitForReplica(t *testing.T) {
	t.Parallel()
	primary, _ := pair(t)
	admin := primary.Client(t)
	c := waitClient(t, primary.Addr, 5*time.Second)
	ctx := context.Background()

	before := waits(t, admin)
	require.NoError(t, c.Set(ctx, "a", "1", 0).Err())
	require.Equal(t, before+1, waits(t, admin), "a SET waits")

	n, err := script.Run(ctx, c, []string{"n"}).Int()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.GreaterOrEqual(t, waits(t, admin), before+2, "a script waits (EVALSHA, and EVAL after NOSCRIPT)")

	before = waits(t, admin)
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "b", "2", 0)
		p.Incr(ctx, "c")
		p.Get(ctx, "a")
		return nil
	})
	require.NoError(t, err)
	require.Len(t, cmds, 3, "the caller sees its own commands only")
	require.Equal(t, "1", cmds[2].(*redis.StringCmd).Val())
	require.Equal(t, before+1, waits(t, admin), "one WAIT per pipeline")

	before = waits(t, admin)
	require.Equal(t, "2", c.Get(ctx, "b").Val())
	require.NoError(t, c.Exists(ctx, "a").Err())
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "a"); return nil })
	require.NoError(t, err)
	require.Equal(t, before, waits(t, admin), "reads do not wait")
}

// With the replica stopped (SIGSTOP: still connected, acknowledging
// nothing), a write fails with ErrNotReplicated, a single command and a
// pipeline alike. (WAIT must run on the connection of the write: on a
// connection without writes of its own, WAIT counts the stopped replica at
// once, as redis-cli shows.)
func TestUnacknowledgedWriteFails(t *testing.T) {
	t.Parallel()
	primary, replica := pair(t)
	// patient acknowledges while the replica runs, even on a loaded machine;
	// c gives up after 200ms while it is stopped.
	patient := waitClient(t, primary.Addr, 5*time.Second)
	c := waitClient(t, primary.Addr, 200*time.Millisecond)
	ctx := context.Background()
	require.NoError(t, patient.Set(ctx, "k", "before", 0).Err())

	pid := replica.PID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })

	err := c.Set(ctx, "k", "after", 0).Err()
	require.ErrorIs(t, err, durable.ErrNotReplicated)
	require.Contains(t, err.Error(), "0 of 1")
	require.Equal(t, "after", c.Get(ctx, "k").Val(), "the write ran on the primary; only its durability is unknown")

	_, err = script.Run(ctx, c, []string{"n"}).Result()
	require.ErrorIs(t, err, durable.ErrNotReplicated)

	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "k")
		p.Set(ctx, "k2", "v", 0)
		return nil
	})
	require.ErrorIs(t, err, durable.ErrNotReplicated)
	require.NoError(t, cmds[0].Err(), "a read in the pipeline keeps its reply")
	require.ErrorIs(t, cmds[1].Err(), durable.ErrNotReplicated)

	require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
	require.NoError(t, patient.Set(ctx, "k", "again", 0).Err())
}

func TestTransactionsRefused(t *testing.T) {
	t.Parallel()
	primary, _ := pair(t)
	c := primary.Client(t)
	require.NoError(t, durable.Install(c, durable.Config{Replicas: 1}))
	ctx := context.Background()
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, "t", "1", 0); return nil })
	require.ErrorIs(t, err, durable.ErrTxUnsupported)
	require.Zero(t, c.Exists(ctx, "t").Val(), "nothing was sent")
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Exists(ctx, "t"); return nil })
	require.NoError(t, err, "a read-only transaction passes")
}

func TestInstallRefusesBadConfig(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: 3 * time.Second})
	defer c.Close()
	for _, cfg := range []durable.Config{
		{Replicas: 0},
		{Replicas: -1},
		{Replicas: durable.MaxReplicas + 1},
		{Replicas: 1, Timeout: -time.Second},
		{Replicas: 1, Timeout: 3 * time.Second},
	} {
		err := durable.Install(c, cfg)
		require.ErrorIs(t, err, durable.ErrInvalidConfig, "%+v", cfg)
	}
	require.ErrorIs(t, durable.Install(nil, durable.Config{Replicas: 1}), durable.ErrInvalidConfig)
}

// Install a hook so that every acknowledged write is on one replica.
func ExampleInstall() {
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    "mymaster",
		SentinelAddrs: []string{"127.0.0.1:26379"},
	})
	defer rdb.Close()
	if err := durable.Install(rdb, durable.Config{Replicas: 1, Timeout: 500 * time.Millisecond}); err != nil {
		panic(err)
	}
	err := rdb.Set(context.Background(), "k", "v", 0).Err()
	if errors.Is(err, durable.ErrNotReplicated) {
		fmt.Println("written on the primary, not confirmed on a replica")
	}
}
