package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testConfig is a worker configuration with short timings for tests.
func testConfig(cfg worker.Config) worker.Config {
	if cfg.Lease == 0 {
		cfg.Lease = time.Second
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	if cfg.DelayedCheckInterval == 0 {
		cfg.DelayedCheckInterval = 100 * time.Millisecond
	}
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = func(int, error) time.Duration { return 10 * time.Millisecond }
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.Maintenance.Interval == 0 {
		cfg.Maintenance.Interval = 50 * time.Millisecond
	}
	if cfg.Maintenance.DispatchGrace == 0 {
		cfg.Maintenance.DispatchGrace = 200 * time.Millisecond
	}
	return cfg
}

// startWorker starts a worker with handlers and stops it when the test ends.
func startWorker(t *testing.T, rdb redis.UniversalClient, cfg worker.Config, handlers map[string]worker.HandlerFunc) *worker.Worker {
	t.Helper()
	w, err := worker.New(rdb, testConfig(cfg))
	require.NoError(t, err)
	for typ, h := range handlers {
		require.NoError(t, w.Handle(typ, h))
	}
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(w.Stop)
	return w
}

func newClient(t *testing.T, rdb redis.UniversalClient) *jobs.Client {
	t.Helper()
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitTerminal waits until every job has a terminal state and returns them.
func waitTerminal(t *testing.T, c *jobs.Client, ids []string, within time.Duration) map[string]*jobs.Info {
	t.Helper()
	out := map[string]*jobs.Info{}
	deadline := time.Now().Add(within)
	for {
		for _, id := range ids {
			if in, ok := out[id]; ok && in.State.Terminal() {
				continue
			}
			in, err := c.Get(context.Background(), id)
			require.NoError(t, err)
			out[id] = in
		}
		done := true
		for _, id := range ids {
			if !out[id].State.Terminal() {
				done = false
			}
		}
		if done {
			return out
		}
		if time.Now().After(deadline) {
			for _, id := range ids {
				if !out[id].State.Terminal() {
					t.Fatalf("job %s still %s after %s (%+v)", id, out[id].State, within, out[id])
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", within, fmt.Sprintf(msg, args...))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until job id is in state st.
func waitState(t *testing.T, c *jobs.Client, id string, st jobs.State) {
	t.Helper()
	eventually(t, 5*time.Second, func() bool {
		in, err := c.Get(context.Background(), id)
		return err == nil && in.State == st
	}, "job %s to be %s", id, st)
}

// waitDeadLetter waits until job id is the one dead letter, as an operator
// sees it before requeueing it.
func waitDeadLetter(t *testing.T, c *jobs.Client, id string) {
	t.Helper()
	eventually(t, 5*time.Second, func() bool {
		dl, err := c.DeadLetters(context.Background(), 10)
		require.NoError(t, err)
		return len(dl) == 1 && dl[0].ID == id
	}, "job %s in the dead letters", id)
}
