package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster starts a Redis Cluster of n masters (no replicas), each a
// redis-server process of its own, joined with `redis-cli --cluster
// create`, and returns a cluster client on it, closed (and the servers
// stopped) when the test ends. It skips or fails like Spawn when
// redis-server or redis-cli is missing.
func Cluster(t testing.TB, n int) *redis.ClusterClient {
	t.Helper()
	bin, err := exec.LookPath(redisServerBin)
	if err != nil {
		skipOrFail(t, fmt.Errorf("%w: Cluster needs %s on PATH: %w", errNoRedis, redisServerBin, err))
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		skipOrFail(t, fmt.Errorf("%w: Cluster needs redis-cli on PATH: %w", errNoRedis, err))
	}
	var addrs []string
	for range n {
		dir := t.TempDir()
		p, err := spawnProc(bin, dir, 0, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--appendonly", "no")
		if err != nil {
			t.Fatalf("redistest: starting a cluster node: %v", err)
		}
		t.Cleanup(func() { _ = p.Stop() })
		addrs = append(addrs, p.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				_ = c.Close()
				t.Fatalf("redistest: cluster node %s not ready: %v %s", a, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = c.Close()
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = cc.Close() })
	// Every node must know the whole slot map before the client is used.
	for {
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
		if err == nil {
			if slots, err := cc.ClusterSlots(ctx).Result(); err == nil && len(slots) == n {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("redistest: cluster client not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cc
}
