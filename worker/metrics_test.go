package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// The worker's metrics count runs by outcome and inline runs.
func TestWorkerMetrics(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	reg := prometheus.NewRegistry()
	startWorker(t, rdb, worker.Config{Concurrency: 1, Registerer: reg}, map[string]worker.HandlerFunc{
		"ok":   func(ctx context.Context, j *worker.Job) error { return nil },
		"fail": func(ctx context.Context, j *worker.Job) error { return errors.New("no") },
	})
	var ids []string
	for _, typ := range []string{"ok", "ok", "ok", "fail"} {
		sub, err := c.Submit(ctx, typ, nil, jobs.Session("m"), jobs.MaxRetry(0))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	waitTerminal(t, c, ids, 10*time.Second)
	// The counters move just after the records turn terminal.
	values := map[string]float64{}
	eventually(t, 5*time.Second, func() bool {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				key := mf.GetName()
				for _, l := range m.GetLabel() {
					key += "/" + l.GetValue()
				}
				if m.GetCounter() != nil {
					values[key] = m.GetCounter().GetValue()
				}
			}
		}
		return values["sessionq_jobs_finished_total/failed/fail"] == 1
	}, "the failed run is counted")
	n, err := testutil.GatherAndCount(reg, "sessionq_jobs_finished_total")
	require.NoError(t, err)
	require.Equal(t, 2, n, "two label sets: ok/succeeded and fail/failed")
	require.Equal(t, 3.0, values["sessionq_jobs_finished_total/succeeded/ok"])
	require.Equal(t, 1.0, values["sessionq_jobs_finished_total/failed/fail"])
	require.Equal(t, 3.0, values["sessionq_inline_runs_total"], "jobs 2 to 4 ran inline after their predecessor")
	require.Equal(t, 3.0, values["sessionq_handoffs_total/inline"])
	require.Equal(t, 0.0, values["sessionq_handoffs_total/queue"])

	// Every first run's wait from submit to start is observed: the session
	// jobs' above (types ok and fail) and a plain job's.
	sub, err := c.Submit(ctx, "ok", nil)
	require.NoError(t, err)
	waitTerminal(t, c, []string{sub.ID}, 10*time.Second)
	eventually(t, 5*time.Second, func() bool {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != "sessionq_job_wait_seconds" {
				continue
			}
			var total uint64
			for _, m := range mf.GetMetric() {
				total += m.GetHistogram().GetSampleCount()
			}
			return len(mf.GetMetric()) == 2 && total == 5
		}
		return false
	}, "five waits observed, of types ok and fail")
}
