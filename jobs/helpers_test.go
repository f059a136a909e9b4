package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// setup returns a Redis database of the test's own and a client on it.
func setup(t *testing.T) (*redis.Client, *jobs.Client) {
	t.Helper()
	rdb, _ := redistest.Client(t)
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return rdb, c
}

// startWorker starts a worker with short timings serving queues (default
// "default") and stops it when the test ends.
func startWorker(t *testing.T, rdb redis.UniversalClient, queues []string, handlers map[string]worker.HandlerFunc) {
	t.Helper()
	w, err := worker.New(rdb, worker.Config{
		Queues: queues, Lease: time.Second, ShutdownGrace: time.Second, PollInterval: 5 * time.Millisecond,
		DelayedCheckInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RetryDelay: func(int, error) time.Duration { return time.Hour }, // a retry waits: tests look at it
	})
	require.NoError(t, err)
	for typ, h := range handlers {
		require.NoError(t, w.Handle(typ, h))
	}
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(w.Stop)
}

// waitState polls job id until it is in state want.
func waitState(t *testing.T, c *jobs.Client, id string, want jobs.State) *jobs.Info {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		in, err := c.Get(context.Background(), id)
		if err == nil && in.State == want {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not %s after 15s: %+v, %v", id, want, in, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ids(in []*jobs.Info) []string {
	var out []string
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}
