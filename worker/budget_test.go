package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// Past its inline budget, a session keeps its slot while fewer than half
// of the slots do; the other slots go on serving the queue. Six long
// sessions and lone jobs on 4 slots with a budget of 2 jobs: two long
// sessions keep their slots and run their jobs back to back, the other
// four are handed back to the queue every 2 jobs, and the lone jobs are
// served meanwhile. (With every slot kept past the budget, the lone jobs
// would wait for a long session to end; with none, every long session
// would go through the queue every 2 jobs.)
func TestSlotsPastTheBudgetAreCappedAtHalf(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	const long, perLong, lone = 6, 40, 40
	var ids []string
	for k := range perLong {
		for s := range long {
			sub, err := c.Submit(ctx, "work", nil, jobs.Session(fmt.Sprintf("long-%d", s)))
			require.NoError(t, err)
			ids = append(ids, sub.ID)
		}
		if k < lone {
			sub, err := c.Submit(ctx, "work", nil, jobs.Session(fmt.Sprintf("lone-%d", k)))
			require.NoError(t, err)
			ids = append(ids, sub.ID)
		}
	}
	var mu sync.Mutex
	first, last := map[string]time.Time{}, map[string]time.Time{}
	var firstLone time.Time
	reg := prometheus.NewRegistry()
	startWorker(t, rdb, worker.Config{Concurrency: 4, InlineBudget: 2, InlineTime: time.Minute, Registerer: reg},
		map[string]worker.HandlerFunc{"work": func(ctx context.Context, j *worker.Job) error {
			start := time.Now()
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			if strings.HasPrefix(j.SessionID, "lone-") {
				if firstLone.IsZero() {
					firstLone = time.Now()
				}
				return nil
			}
			if _, ok := first[j.SessionID]; !ok {
				first[j.SessionID] = start
			}
			last[j.SessionID] = time.Now()
			return nil
		}})
	infos := waitTerminal(t, c, ids, 60*time.Second)
	for id, in := range infos {
		require.Equal(t, jobs.StateSucceeded, in.State, "job %s", id)
	}
	mu.Lock()
	defer mu.Unlock()
	var spans []time.Duration
	firstLongEnd := time.Time{}
	for s, f := range first {
		spans = append(spans, last[s].Sub(f))
		if firstLongEnd.IsZero() || last[s].Before(firstLongEnd) {
			firstLongEnd = last[s]
		}
	}
	slices.Sort(spans)
	t.Logf("long sessions' spans: %v; queue hand-offs: %.0f", spans, queueHandoffs(t, reg))
	require.Len(t, spans, long)
	require.True(t, firstLone.Before(firstLongEnd), "a lone job ended before any long session did")
	// The two kept sessions ran back to back; the four others shared the
	// two remaining slots with each other and the lone jobs.
	require.Less(t, float64(spans[1]), 0.7*float64(spans[2]), "two long sessions kept their slots")
}

// queueHandoffs reads sessionq_handoffs_total{way="queue"} from reg.
func queueHandoffs(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "sessionq_handoffs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "queue" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
