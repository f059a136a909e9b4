package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
)

// Three scheduler processes share a periodic job firing every 2s; the
// leader is killed with SIGKILL while it runs. Every tick from the first
// fire to the last is submitted exactly once: no duplicate (a job per fire
// time, and no job that is not a tick's), no gap (the leader is killed just
// before a tick, and the new leader fires it late, within the catch-up
// window).
func TestPeriodicExactlyOnceAcrossLeaderKill(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	ctx := context.Background()
	const period = 2 * time.Second
	cfg := filepath.Join(t.TempDir(), "sessionq.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`scheduler:
  periodic:
    - name: tick
      every: 2s
      type: e2e.tick
      payload: hello
      catch_up: 10s
`), 0o600))
	p := scheduler.Periodic{Name: "tick", Every: period, Type: "e2e.tick"}
	begin := time.Now()
	procs := map[string]*proc{}
	for i := range 3 {
		id := fmt.Sprintf("sched-%d", i)
		procs[id] = start(t, id, "scheduler", "--redis", url, "--config", cfg, "--id", id,
			"--interval", "100ms", "--leader-term", "1s").ready(t, "scheduler started")
	}
	c := client(t, rdb)
	leader := func() string {
		v, err := rdb.Get(ctx, keys.Leader(scheduler.DefaultName+"-periodic")).Result()
		if err != nil {
			return ""
		}
		return v
	}
	pollUntil(t, 30*time.Second, func() bool { return countJobs(t, c) >= 2 }, "no periodic fires")
	// Kill the leader just before a tick: the next leader takes over
	// (leader term 1s) after the tick, and must fire it late.
	next := time.Now().Truncate(period).Add(period)
	pollUntil(t, 2*period, func() bool { return time.Until(next) < 300*time.Millisecond }, "clock")
	first := leader()
	require.Contains(t, procs, first)
	procs[first].kill9(t)
	killed := countJobs(t, c)
	pollUntil(t, 30*time.Second, func() bool {
		l := leader()
		return l != "" && l != first
	}, "no new leader")
	pollUntil(t, 30*time.Second, func() bool { return countJobs(t, c) >= killed+3 }, "no fires after the leader was killed")

	// Each job is the fire of one tick.
	byID := map[string]time.Time{}
	for tick := begin.Truncate(period); tick.Before(time.Now().Add(time.Minute)); tick = tick.Add(period) {
		byID[scheduler.PeriodicJobID(p, tick)] = tick
	}
	list, err := c.List(ctx, jobs.ListOptions{Limit: jobs.MaxListLimit})
	require.NoError(t, err)
	var ticks []time.Time
	for _, in := range list {
		tick, ok := byID[in.ID]
		require.True(t, ok, "job %s is no tick's fire", in.ID)
		require.Equal(t, "e2e.tick", in.Type)
		require.Equal(t, "hello", string(in.Payload))
		ticks = append(ticks, tick)
	}
	slices.SortFunc(ticks, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(ticks); i++ {
		require.Equal(t, period, ticks[i].Sub(ticks[i-1]), "ticks %v: each fires once, none missed", ticks)
	}
	require.GreaterOrEqual(t, len(ticks), 5)

	// schedule list shows the last fire.
	out, err := runToEnd(t, "schedule", "list", "--redis", url, "--config", cfg)
	require.NoError(t, err, out)
	require.Contains(t, out, "tick")
	require.Contains(t, out, "every 2s")
}

// countJobs counts the jobs in Redis.
func countJobs(t *testing.T, c *jobs.Client) int {
	t.Helper()
	list, err := c.List(context.Background(), jobs.ListOptions{Limit: jobs.MaxListLimit})
	require.NoError(t, err)
	return len(list)
}

// pollUntil polls cond every 20ms until it holds, or fails the test after d.
func pollUntil(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runToEnd runs the sessionq binary to its end and returns its combined output.
func runToEnd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	p := start(t, args[0], args...)
	<-p.done
	if err := p.cmd.ProcessState; err != nil && !err.Success() {
		return p.output(), fmt.Errorf("sessionq %s: %s", strings.Join(args, " "), err)
	}
	return p.output(), nil
}
