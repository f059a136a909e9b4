package worker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/worker"
)

// A configuration that looks wrong is refused by New, with what is wrong;
// nothing is defaulted in its place.
func TestBadConfigIsRefused(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	for _, tc := range []struct {
		cfg  worker.Config
		want string
	}{
		{worker.Config{Concurrency: -1}, "concurrency -1 out of range"},
		{worker.Config{Lease: time.Millisecond}, "lease 1ms shorter than 100ms"},
		{worker.Config{Retention: -time.Second}, "retention -1s is negative"},
		{worker.Config{Queues: []string{"a", "a"}}, `queue "a" named twice`},
		{worker.Config{Queues: []string{"a"}, Priorities: map[string]int{"b": 2}}, "priority b:2"},
		{worker.Config{BatchInFlight: -1}, "batch in flight -1 out of range"},
		{worker.Config{BatchInFlight: 65}, "batch in flight 65 out of range"},
		{worker.Config{BatchInFlight: 4, NoBatching: true}, "set with NoBatching"},
	} {
		_, err := worker.New(rdb, tc.cfg)
		require.ErrorContains(t, err, tc.want, "%+v", tc.cfg)
	}
	w, err := worker.New(rdb, worker.Config{BatchInFlight: 4, Logger: quiet})
	require.NoError(t, err)
	require.NotNil(t, w)
}
