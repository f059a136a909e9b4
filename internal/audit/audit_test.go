package audit

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecorderCountsOverlapAndDisorder(t *testing.T) {
	t.Parallel()
	var r Recorder
	r.Start("a", 1)
	r.End("a")
	r.Start("a", 3)
	r.Start("a", 2) // overlaps 3 and starts out of order
	r.End("a")
	r.End("a")
	r.Start("b", 1)
	r.Start("", 0)
	rep := r.Report()
	require.Equal(t, 1, rep.Overlaps)
	require.Equal(t, 1, rep.Violations)
	require.False(t, rep.OK())
	require.Equal(t, 2, rep.MaxParallel)
	require.Equal(t, []int64{1, 3, 2}, r.Started("a"))
}

func TestRecorderAcceptsSerialInOrderRunsAndRepeats(t *testing.T) {
	t.Parallel()
	var r Recorder
	for _, seq := range []int64{1, 2, 2, 3} { // 2 ran twice (a retry)
		r.Start("s", seq)
		r.End("s")
	}
	rep := r.Report()
	require.True(t, rep.OK(), rep.String())
	require.Equal(t, 4, rep.Starts)
}
