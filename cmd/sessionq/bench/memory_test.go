package bench

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// RunMemory, small: it parks jobs, creates sessions and reports plausible
// bytes per item and timings.
func TestRunMemorySmall(t *testing.T) {
	t.Parallel()
	// A server of its own: used_memory is server-wide.
	srv := redistest.Spawn(t, redistest.SpawnOptions{})
	res, err := RunMemory(t.Context(), MemoryConfig{RedisURL: srv.URL(), Count: 2000, Sessions: 10, Owners: 10, Workers: 4, Samples: 20}, nil)
	require.NoError(t, err)
	require.InDelta(t, 500, res.ParkedJobBytes, 450, "bytes per parked job")
	require.InDelta(t, 500, res.IdleSessionBytes, 450, "bytes per idle session")
	for _, m := range []map[string]Timing{res.Empty, res.Loaded} {
		for _, op := range []string{OpSubmitNew, OpSubmitParked, OpSessionCreate} {
			require.Positive(t, m[op].P50, op)
			require.GreaterOrEqual(t, m[op].P99, m[op].P50, op)
		}
	}
	for k, v := range res.Usage {
		require.Positive(t, v, k)
	}
	var out bytes.Buffer
	require.NoError(t, WriteMemoryReport(&out, res))
	require.Contains(t, out.String(), "parked jobs     2000 in 10 sessions")
}

func TestRunMemoryRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []MemoryConfig{
		{},
		{RedisURL: "redis://127.0.0.1:1", Count: -1},
		{RedisURL: "redis://127.0.0.1:1", Count: 10, Sessions: 11},
	} {
		_, err := RunMemory(t.Context(), cfg, nil)
		require.Error(t, err, "%+v", cfg)
	}
}
