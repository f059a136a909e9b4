package client_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/client"
)

// BenchmarkPoolAcquireRelease: taking an idle session of a user and giving
// it back; "opens/op" counts the sessions the pool had to open.
func BenchmarkPoolAcquireRelease(b *testing.B) {
	st := testStack(b, stackOptions{})
	ctx := context.Background()
	_, err := st.user(ctx, "alice", userRights...)
	require.NoError(b, err)
	root := st.dial(b, "root", "impersonate", "read:all", "write:all")
	p, err := client.NewPool(root, client.PoolConfig{MaxPerUser: 4})
	require.NoError(b, err)
	defer func() { require.NoError(b, p.Close(ctx)) }()
	before := root.Requests()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := p.Acquire(ctx, "alice")
			if err != nil {
				b.Error(err)
				return
			}
			p.Release(s)
		}
	})
	b.ReportMetric(float64(root.Requests()-before)/float64(b.N), "requests/op")
}

// BenchmarkParamWrites: writing 10 parameters of a session, unbuffered (a
// flush after each write: one request each, as without buffering) against
// buffered (one flush: one request).
func BenchmarkParamWrites(b *testing.B) {
	const writes = 10
	for _, buffered := range []bool{false, true} {
		b.Run(fmt.Sprintf("buffered=%t", buffered), func(b *testing.B) {
			st := testStack(b, stackOptions{})
			c := st.dial(b, fmt.Sprintf("u%t", buffered), userRights...)
			ctx := context.Background()
			before := c.Requests()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for k := range writes {
					require.NoError(b, c.SetParam(ctx, fmt.Sprintf("k%d", k), "v"))
					if !buffered {
						require.NoError(b, c.Flush(ctx))
					}
				}
				require.NoError(b, c.Flush(ctx))
			}
			b.ReportMetric(float64(c.Requests()-before)/float64(b.N), "requests/op")
		})
	}
}
