package bench

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/durable"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// BenchmarkWaitReplicas is the cost of --redis-wait-replicas 1
// (internal/durable) on a primary with one replica on the same machine:
// a submit to an idle session (sequential, and from 8 goroutines:
// submits/s is 1e9 / ns/op), and a lone job's acquire and finish.
func BenchmarkWaitReplicas(b *testing.B) {
	primary := redistest.Spawn(b, redistest.SpawnOptions{})
	redistest.Spawn(b, redistest.SpawnOptions{ReplicaOf: primary.Addr})
	primary.WaitReplicas(b, 1)
	for _, mode := range []struct {
		name     string
		replicas int
	}{{"async", 0}, {"wait1", 1}} {
		// newClient is a client on an emptied database, with the hook when
		// asked.
		newClient := func(b *testing.B) *redis.Client {
			c := redis.NewClient(&redis.Options{Addr: primary.Addr})
			b.Cleanup(func() { _ = c.Close() })
			require.NoError(b, c.FlushDB(b.Context()).Err())
			if mode.replicas > 0 {
				require.NoError(b, durable.Install(c, durable.Config{Replicas: mode.replicas, Timeout: time.Second}))
			}
			return c
		}
		b.Run("submit/"+mode.name, func(b *testing.B) {
			jc, err := jobs.NewClient(newClient(b), jobs.ClientConfig{})
			require.NoError(b, err)
			ctx := b.Context()
			for i := 0; b.Loop(); i++ {
				if _, err := jc.Submit(ctx, benchType, payload(i), jobs.Session("s"+strconv.Itoa(i))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("submit-parallel8/"+mode.name, func(b *testing.B) {
			jc, err := jobs.NewClient(newClient(b), jobs.ClientConfig{})
			require.NoError(b, err)
			ctx := b.Context()
			var n atomic.Int64
			b.SetParallelism(4) // 4 goroutines per CPU: 8 on this 2-core machine
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					if _, err := jc.Submit(ctx, benchType, payload(i), jobs.Session("s"+strconv.Itoa(i))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run("acquire-finish/"+mode.name, func(b *testing.B) {
			c := newClient(b)
			led := ledger.New(c)
			ctx := b.Context()
			n := b.N
			loneJobs(ctx, b, led, n)
			b.ResetTimer()
			for i := range n {
				s, id := "s"+strconv.Itoa(i), "j"+strconv.Itoa(i)
				ar, err := led.Acquire(ctx, s, id, 1, "w", lease)
				if err != nil || ar.Verdict != ledger.OK {
					b.Fatalf("acquire: %v %q", err, ar.Verdict)
				}
				if _, err := led.Finish(ctx, s, id, ar.Job.Token, ledger.Outcome{OK: true}, finishOpts(true)); err != nil {
					b.Fatalf("finish: %v", err)
				}
			}
		})
	}
}
