package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessionqtest"
	"github.com/sessionq/sessionq/worker"
)

var quiet = sessionqtest.Quiet

// testConfig is sessionqtest.WorkerConfig: short timings for tests.
var testConfig = sessionqtest.WorkerConfig

// startWorker is sessionqtest.StartWorker.
var startWorker = sessionqtest.StartWorker[worker.HandlerFunc]

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

// eventually is sessionqtest.Eventually.
var eventually = sessionqtest.Eventually

// waitState is sessionqtest.WaitState.
var waitState = sessionqtest.WaitState

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
