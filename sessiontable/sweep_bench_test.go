package sessiontable_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/sessiontable"
)

// BenchmarkSweep measures the cleanup of one ended session (with a TID, a
// parameter and a file): the figure behind the sweep's bounded time.
func BenchmarkSweep(b *testing.B) {
	ctx := context.Background()
	rdb, _ := redistest.Client(b)
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet})
	require.NoError(b, err)
	sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{MaxPerRun: 1 << 30, MaxRunTime: time.Hour})
	require.NoError(b, err)
	var last string
	for i := range b.N {
		in, err := tbl.Create(ctx, sessiontable.Spec{TID: "t-" + strconv.Itoa(i), IdleTimeout: 20 * time.Millisecond,
			Params: map[string]string{"k": "v"}})
		require.NoError(b, err)
		require.NoError(b, tbl.PutFile(ctx, in.ID, "f", []byte("x")))
		last = in.ID
	}
	// The last one created ends last.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := tbl.Get(ctx, last, sessiontable.OutOfSession())
		if errors.Is(err, sessiontable.ErrNotFound) {
			break
		}
		require.True(b, time.Now().Before(deadline), "sessions did not expire")
		time.Sleep(5 * time.Millisecond)
	}
	b.ResetTimer()
	rep, err := sw.Sweep(ctx)
	require.NoError(b, err)
	require.Equal(b, b.N, rep.Ended)
}
