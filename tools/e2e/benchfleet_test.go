package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/cmd/sessionq/bench"
	"github.com/sessionq/sessionq/internal/redistest"
)

// sessionq bench-fleet runs real worker processes (bench-worker), sessionq
// and raw asynq, and reports every job run, in order for sessionq.
func TestBenchFleet(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	out, err := exec.Command(binary(t), "bench-fleet", "--redis", url, "--sizes", "2", "--scenario", "zipf",
		"--jobs", "300", "--concurrency", "4", "--json").Output()
	require.NoError(t, err, "%s", out)
	var rs []bench.FleetResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r bench.FleetResult
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		rs = append(rs, r)
	}
	require.Len(t, rs, 2, "sessionq and raw asynq")
	for _, r := range rs {
		require.Equal(t, 300, r.Finished, "%+v", r)
		require.Positive(t, r.JobsPerSec)
		require.Positive(t, r.RedisCPUPerJob)
		require.Positive(t, r.Ceiling)
		if r.System == "sessionq" {
			require.Zero(t, r.OrderViolations, "%+v", r)
			require.Zero(t, r.Overlaps, "%+v", r)
		}
	}
}
