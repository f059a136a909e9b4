package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/audit"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// One session with 2,000 queued jobs next to 2,000 single-job sessions:
// the hot session runs serially and in order on one slot at a time, and the
// single-job sessions are not held up behind it (they all end before the
// hot session's serial chain, at least 4 s of work, is through).
func TestHotSessionBesideManySingleJobSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("4,000 jobs")
	}
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	var rec audit.Recorder
	var mu sync.Mutex
	var lastSingle, lastHot time.Time
	handler := func(ctx context.Context, j *worker.Job) error {
		rec.Start(j.SessionID, j.Seq)
		if j.SessionID == "hot" {
			time.Sleep(2 * time.Millisecond)
		}
		rec.End(j.SessionID)
		mu.Lock()
		if j.SessionID == "hot" {
			lastHot = time.Now()
		} else {
			lastSingle = time.Now()
		}
		mu.Unlock()
		return nil
	}
	const n = 2000
	var ids []string
	for i := range n {
		sub, err := c.Submit(ctx, "doc", nil, jobs.Session("hot"))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
		sub, err = c.Submit(ctx, "doc", nil, jobs.Session(fmt.Sprintf("single-%d", i)))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	// The workers start once everything is queued: the hot session's chain
	// is then all there, 4 s of serial work at least, whatever the pace of
	// the submits (with workers running during slow submits, the chain kept
	// up with them and the last single, submitted after the last hot job,
	// could end after it).
	for range 2 {
		startWorker(t, rdb, worker.Config{Concurrency: 4}, map[string]worker.HandlerFunc{"doc": handler})
	}
	waitTerminal(t, c, ids, 3*time.Minute)
	rep := rec.Report()
	require.True(t, rep.OK(), rep.String())
	require.Equal(t, 2*n, rep.Starts)
	started := rec.Started("hot")
	require.Len(t, started, n)
	for i, seq := range started {
		require.EqualValues(t, i+1, seq)
	}
	mu.Lock()
	defer mu.Unlock()
	require.True(t, lastSingle.Before(lastHot), "the single-job sessions waited for the hot one: last single %s after last hot job", lastSingle.Sub(lastHot))
}
