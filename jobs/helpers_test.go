package jobs_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessionqtest"
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
	sessionqtest.StartWorker(t, rdb, worker.Config{
		Queues: queues, DelayedCheckInterval: 50 * time.Millisecond,
		RetryDelay: func(int, error) time.Duration { return time.Hour }, // a retry waits: tests look at it
	}, handlers)
}

// waitState is sessionqtest.WaitState.
var waitState = sessionqtest.WaitState

func ids(in []*jobs.Info) []string {
	var out []string
	for _, i := range in {
		out = append(out, i.ID)
	}
	return out
}
