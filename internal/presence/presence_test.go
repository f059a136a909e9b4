package presence_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/presence"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/sessionqtest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// waitFor is sessionqtest.Eventually.
var waitFor = sessionqtest.Eventually

func handlers(t *testing.T, rdb redis.Cmdable, typ string) []string {
	t.Helper()
	ids, err := presence.Handlers(t.Context(), rdb, typ)
	require.NoError(t, err)
	return ids
}

func TestPublishHandlersExpire(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := t.Context()
	require.Empty(t, handlers(t, rdb, "doc.render"))

	require.NoError(t, presence.Publish(ctx, rdb, "w1", []string{"doc.render", "echo"}, time.Hour))
	require.NoError(t, presence.Publish(ctx, rdb, "w2", []string{"doc.render"}, 300*time.Millisecond))
	require.Equal(t, []string{"w1", "w2"}, handlers(t, rdb, "doc.render"))
	require.Equal(t, []string{"w1"}, handlers(t, rdb, "echo"))
	require.Empty(t, handlers(t, rdb, "other"))

	// w2's entry ends with its TTL; w1's stays.
	waitFor(t, 5*time.Second, func() bool { return len(handlers(t, rdb, "doc.render")) == 1 }, "w2 never expired")
	require.Equal(t, []string{"w1"}, handlers(t, rdb, "doc.render"))

	// The key lives as long as its newest entry.
	ttl, err := rdb.PTTL(ctx, keys.Handlers("doc.render")).Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 59*time.Minute)

	require.NoError(t, presence.Withdraw(ctx, rdb, "w1", []string{"doc.render", "echo"}))
	require.Empty(t, handlers(t, rdb, "doc.render"))
	require.Empty(t, handlers(t, rdb, "echo"))
}

func TestPublisherHeartbeatAndStop(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := t.Context()
	p, err := presence.NewPublisher(rdb, "w1", []string{"t1", "t2"}, presence.Config{TTL: 400 * time.Millisecond, Interval: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	require.Equal(t, []string{"w1"}, handlers(t, rdb, "t1"))
	require.Equal(t, []string{"w1"}, handlers(t, rdb, "t2"))

	// The heartbeat pushes the entry's end forward.
	first, err := rdb.ZScore(ctx, keys.Handlers("t1"), "w1").Result()
	require.NoError(t, err)
	waitFor(t, 5*time.Second, func() bool {
		s, err := rdb.ZScore(ctx, keys.Handlers("t1"), "w1").Result()
		return err == nil && s >= first+400
	}, "the heartbeat did not refresh the entry past its first TTL")
	require.Equal(t, []string{"w1"}, handlers(t, rdb, "t1"))

	p.Stop()
	require.Empty(t, handlers(t, rdb, "t1"), "Stop withdraws at once")
	require.Empty(t, handlers(t, rdb, "t2"))
	p.Stop() // twice is fine
	require.Error(t, p.Start(ctx), "a stopped publisher does not start again")

	q, err := presence.NewPublisher(rdb, "w2", []string{"t1"}, presence.Config{})
	require.NoError(t, err)
	q.Stop() // before Start is fine
}

func TestPublisherStopsWithContext(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx, cancel := context.WithCancel(t.Context())
	p, err := presence.NewPublisher(rdb, "w1", []string{"t"}, presence.Config{TTL: time.Minute})
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	cancel()
	p.Stop() // withdraws even though Start's context ended
	require.Empty(t, handlers(t, rdb, "t"))
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := t.Context()
	require.ErrorIs(t, presence.Publish(ctx, rdb, "", []string{"t"}, time.Second), presence.ErrInvalid)
	require.ErrorIs(t, presence.Publish(ctx, rdb, "w", []string{"bad type"}, time.Second), presence.ErrInvalid)
	require.ErrorIs(t, presence.Publish(ctx, rdb, "w", []string{"t"}, 0), presence.ErrInvalid)
	_, err := presence.Handlers(ctx, rdb, "")
	require.ErrorIs(t, err, presence.ErrInvalid)
	_, err = presence.NewPublisher(rdb, "w", []string{"t"}, presence.Config{TTL: time.Second, Interval: 2 * time.Second})
	require.ErrorIs(t, err, presence.ErrInvalid)
	n, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Zero(t, n)
}

func ExampleHandlers() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()

	// In each worker process:
	p, err := presence.NewPublisher(rdb, "worker-1", []string{"doc.render"}, presence.Config{})
	if err != nil {
		panic(err)
	}
	if err := p.Start(ctx); err != nil {
		panic(err)
	}
	defer p.Stop()

	// In a producer:
	ids, err := presence.Handlers(ctx, rdb, "doc.render")
	if err != nil {
		panic(err)
	}
	if len(ids) == 0 {
		fmt.Println("no live worker handles doc.render")
	}
}

// Every command touches one key: presence works on a Redis Cluster, with
// the types spread over its slots.
func TestOnRedisCluster(t *testing.T) {
	t.Parallel()
	cc := redistest.Cluster(t, 3)
	ctx := t.Context()
	types := []string{"a", "b", "c", "doc.render", "echo", "t/1", "t/2", "t/3"}
	p, err := presence.NewPublisher(cc, "w1", types, presence.Config{})
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	for _, typ := range types {
		require.Equal(t, []string{"w1"}, handlers(t, cc, typ), typ)
	}
	p.Stop()
	for _, typ := range types {
		require.Empty(t, handlers(t, cc, typ), typ)
	}
}
