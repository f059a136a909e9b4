package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// A worker process that dies at start fails the trial with its stderr.
func TestRunFleetWorkerDies(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	_, err := RunFleet(t.Context(), FleetConfig{RedisURL: url, Command: []string{"sh", "-c", "echo boom >&2; exit 3", "sh"},
		Sizes: []int{1}, Jobs: 10, Scenarios: []string{"spread"}}, nil)
	require.ErrorContains(t, err, "exited before it was ready: boom")
}

func TestRunFleetRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []FleetConfig{
		{Command: []string{"x"}},
		{RedisURL: "redis://127.0.0.1:1"},
		{RedisURL: "redis://127.0.0.1:1", Command: []string{"x"}, Sizes: []int{0}},
		{RedisURL: "redis://127.0.0.1:1", Command: []string{"x"}, Scenarios: []string{"hot"}},
		{RedisURL: "redis://127.0.0.1:1", Command: []string{"x"}, Jobs: -1},
	} {
		_, err := RunFleet(t.Context(), cfg, nil)
		require.Error(t, err, "%+v", cfg)
	}
}

func TestWriteFleetTable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, WriteFleetTable(&out, []FleetResult{
		{Scenario: "spread", System: "sessionq", Workers: 1, Finished: 10, JobsPerSec: 100, RedisCPUPerJob: 100 * time.Microsecond, Ceiling: 10000},
		{Scenario: "spread", System: "sessionq", Workers: 2, Finished: 10, JobsPerSec: 100, RedisCPUPerJob: 50 * time.Microsecond, Ceiling: 20000},
		{Scenario: "spread", System: "sessionq", Workers: 4, Finished: 10, JobsPerSec: 100, RedisCPUPerJob: 25 * time.Microsecond, Ceiling: 40000},
	}))
	require.Contains(t, out.String(), "Redis-bound ceiling, spread, sessionq: 20000 jobs/s per Redis core (median over sizes)")
}
