package cli

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

func TestParseQueues(t *testing.T) {
	t.Parallel()
	names, weights, err := parseQueues([]string{"critical:6", "default:3", "low:1", "plain"})
	require.NoError(t, err)
	require.Equal(t, []string{"critical", "default", "low", "plain"}, names)
	require.Equal(t, map[string]int{"critical": 6, "default": 3, "low": 1}, weights)

	for _, bad := range [][]string{
		nil,
		{""},
		{"a:0"},
		{"a:-1"},
		{"a:x"},
		{"a:"},
		{"a:1001"},
		{"a:1:2"},
		{"a", "a:2"},
		{"a b"},
	} {
		_, _, err := parseQueues(bad)
		require.Error(t, err, "%q", bad)
	}
}

// A bad weight is an error before the worker starts.
func TestWorkerRefusesBadQueueWeight(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	_, _, err := run(t, "worker", "--redis", url, "--exec", "t=cat", "--queues", "critical:0,low")
	require.ErrorContains(t, err, `worker.queues "critical:0": weight "0": want a whole number from 1 to 1000`)
}

// With --strict-priority a worker of one slot takes every job of the
// heavier queue before any of the lighter one (weights alone would mix
// them: each pick takes the light queue with probability 1/7).
func TestWorkerStrictPriority(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the exec handler runs on Linux only")
	}
	rdb, url := redistest.Client(t)
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	var ids []string
	for _, q := range []string{"low", "critical"} {
		for range 10 {
			sub, err := c.Submit(t.Context(), "rec", nil, jobs.Queue(q))
			require.NoError(t, err)
			ids = append(ids, sub.ID)
		}
	}
	log := filepath.Join(t.TempDir(), "order")
	w, stop := background(t, "worker", "--redis", url, "--concurrency", "1", "--shutdown-grace", "1s",
		"--queues", "critical:6,low:1", "--strict-priority",
		"--exec", "rec=sh -c 'echo $SESSIONQ_QUEUE >> "+log+"'")
	eventually(t, 10*time.Second, func() bool { return strings.Contains(w.err.String(), "worker started") },
		"worker did not start: "+w.err.String())
	eventually(t, 20*time.Second, func() bool {
		for _, id := range ids {
			in, err := c.Get(t.Context(), id)
			if err != nil || in.State != jobs.StateSucceeded {
				return false
			}
		}
		return true
	}, "jobs did not all succeed")
	require.NoError(t, stop())
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	want := strings.Repeat("critical\n", 10) + strings.Repeat("low\n", 10)
	require.Equal(t, want, string(b))
}

// parseQueues never panics, and what it accepts is valid for the worker.
func FuzzParseQueues(f *testing.F) {
	for _, s := range []string{"critical:6,default:3,low:1", "a", "a:0", "a:1:2", ":", "a,a", "é:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, weights, err := parseQueues(strings.Split(s, ","))
		if err != nil {
			return
		}
		for _, n := range names {
			require.NoError(t, jobs.ValidateQueue(n))
		}
		for n, w := range weights {
			require.Contains(t, names, n)
			require.True(t, w >= 1 && w <= maxQueueWeight)
		}
	})
}

// The worker refuses weights of queues it does not serve, and weights
// below 1.
func TestWorkerPrioritiesChecked(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	for _, p := range []map[string]int{{"other": 2}, {"a": 0}} {
		_, err := worker.New(rdb, worker.Config{Queues: []string{"a"}, Priorities: p})
		require.ErrorContains(t, err, "want a served queue and a weight of 1 or more", "%v", p)
	}
	w, err := worker.New(rdb, worker.Config{Queues: []string{"a", "b"}, Priorities: map[string]int{"a": 5}, StrictPriority: true})
	require.NoError(t, err)
	w.Stop()
}

// The weights of --queues reach asynq: the worker's server announces them
// in its heartbeat.
func TestWorkerQueueWeights(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the exec handler runs on Linux only")
	}
	rdb, url := redistest.Client(t)
	w, stop := background(t, "worker", "--redis", url, "--queues", "critical:6,default:3,low", "--exec", "t=cat", "--shutdown-grace", "1s")
	eventually(t, 10*time.Second, func() bool { return strings.Contains(w.err.String(), "worker started") },
		"worker did not start: "+w.err.String())
	insp := asynq.NewInspectorFromRedisClient(rdb)
	var servers []*asynq.ServerInfo
	eventually(t, 10*time.Second, func() bool {
		var err error
		servers, err = insp.Servers()
		require.NoError(t, err)
		return len(servers) == 1
	}, "no asynq server announced")
	require.Equal(t, map[string]int{"critical": 6, "default": 3, "low": 1}, servers[0].Queues)
	require.False(t, servers[0].StrictPriority)
	require.NoError(t, stop())
}
