package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
)

// BenchmarkRepairPass times one reconciler pass over a Redis holding
// SESSIONQ_BENCH_IDLE idle sessions (default 100,000; the README quotes
// 1,000,000) and 10 stuck ones (a lease that expired under a dead holder),
// fresh for every pass. It reports the Redis commands one pass costs
// (cmds/pass, from INFO's total_commands_processed). A pass must not grow
// with the idle sessions: compare runs with different sizes.
//
//	SESSIONQ_BENCH_IDLE=1000000 go test -run '^$' -bench RepairPass -benchtime 20x ./scheduler/
func BenchmarkRepairPass(b *testing.B) {
	idle := 100_000
	if v := os.Getenv("SESSIONQ_BENCH_IDLE"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		idle = n
	}
	srv := redistest.Spawn(b, redistest.SpawnOptions{})
	rdb := srv.Client(b)
	ctx := context.Background()
	fillIdleSessions(b, rdb, idle)
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(b, err)
	led := ledger.New(rdb)
	s, err := scheduler.New(rdb, scheduler.Config{Logger: quiet})
	require.NoError(b, err)
	// A first pass outside the timing (warms scripts and connections).
	_, err = s.Reconcile(ctx)
	require.NoError(b, err)
	var cmds int64
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		for i := range 10 {
			sess := fmt.Sprintf("stuck-%d-%d", round, i)
			sub, err := jc.Submit(ctx, "t", nil, jobs.Session(sess))
			require.NoError(b, err)
			r, err := led.Acquire(ctx, sess, sub.ID, 1, "dead-worker", time.Millisecond)
			require.NoError(b, err)
			require.Equal(b, ledger.OK, r.Verdict)
		}
		time.Sleep(2 * time.Millisecond) // the leases run out
		before := commandsProcessed(b, rdb)
		b.StartTimer()
		rep, err := s.Reconcile(ctx)
		b.StopTimer()
		cmds += commandsProcessed(b, rdb) - before - 1 // less this INFO
		require.NoError(b, err)
		require.GreaterOrEqual(b, rep.Repaired, 10)
		b.StartTimer()
	}
	b.ReportMetric(float64(cmds)/float64(b.N), "cmds/pass")
}

// fillIdleSessions writes n session records, each with the run hash a
// session keeps after its jobs ended.
func fillIdleSessions(b *testing.B, rdb *redis.Client, n int) {
	b.Helper()
	ctx := context.Background()
	const batch = 10_000
	for i := 0; i < n; i += batch {
		p := rdb.Pipeline()
		for j := i; j < min(i+batch, n); j++ {
			s := "idle-" + strconv.Itoa(j)
			p.HSet(ctx, keys.Session(s), "own", "u", "ct", 1, "la", 1, "idle", 0, "dl", 0)
			p.HSet(ctx, keys.Run(s), "seq", 1, "fence", 1)
		}
		_, err := p.Exec(ctx)
		require.NoError(b, err)
	}
}

func commandsProcessed(b *testing.B, rdb *redis.Client) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "stats").Result()
	require.NoError(b, err)
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(b, err)
			return n
		}
	}
	b.Fatal("no total_commands_processed in INFO stats")
	return 0
}
