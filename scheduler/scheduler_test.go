package scheduler_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/scheduler"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// One of two schedulers leads; when it stops, the other takes over.
func TestOneLeaderAndTakeover(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	var ss []*scheduler.Scheduler
	for i, id := range []string{"a", "b"} {
		s, err := scheduler.New(rdb, scheduler.Config{ID: id, Interval: 20 * time.Millisecond, LeaderTerm: 200 * time.Millisecond, Logger: quiet, Registerer: regs[i]})
		require.NoError(t, err)
		require.NoError(t, s.Start(ctx))
		t.Cleanup(s.Stop)
		ss = append(ss, s)
	}
	leaderGauge := func(reg *prometheus.Registry) float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "sessionq_scheduler_leader" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	require.Eventually(t, func() bool { return leaderGauge(regs[0])+leaderGauge(regs[1]) == 1 }, 5*time.Second, 10*time.Millisecond)
	first := rdb.Get(ctx, keys.Leader(scheduler.DefaultName)).Val()
	require.Contains(t, []string{"a", "b"}, first)
	i := 0
	if first == "b" {
		i = 1
	}
	ss[i].Stop() // resigns
	other := regs[1-i]
	require.Eventually(t, func() bool { return leaderGauge(other) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"a", "b"}[1-i], rdb.Get(ctx, keys.Leader(scheduler.DefaultName)).Val())
	n, err := testutil.GatherAndCount(other, "sessionq_sessions_pending")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// Bad configuration is an error, not a silent default.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	for _, cfg := range []scheduler.Config{
		{Interval: time.Microsecond},
		{DispatchGrace: -time.Second},
		{ScanCount: -1},
	} {
		_, err := scheduler.New(rdb, cfg)
		require.Error(t, err, "%+v", cfg)
	}
	var s *scheduler.Scheduler
	s, err := scheduler.New(rdb, scheduler.Config{})
	require.NoError(t, err)
	s.Stop() // before Start: a no-op
	s.Stop()
}
