package scheduler

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/sessionq/sessionq/internal/metrics"
)

type metrics struct {
	repairs     *prometheus.CounterVec
	errors      prometheus.Counter
	reindexed   prometheus.Counter
	passSeconds prometheus.Histogram
	pending     prometheus.Gauge
	leader      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionq_reconciler_repairs_total", Help: "Stuck sessions repaired, by reason (lease_expired, task_missing, no_lease).",
		}, []string{"reason"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionq_reconciler_errors_total", Help: "Sessions the reconciler could not look at or repair (tried again later).",
		}),
		reindexed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionq_reconciler_reindexed_total", Help: "Sessions a full scan found missing from the repair index (expected 0).",
		}),
		passSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessionq_reconciler_pass_seconds", Help: "Time one reconciler pass took.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionq_sessions_pending", Help: "Sessions in the repair index (with unfinished jobs), at the last reconciler pass.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionq_scheduler_leader", Help: "1 when this process leads the maintenance (repair, sweep).",
		}),
	}
	for _, r := range []string{"lease_expired", "task_missing", "no_lease"} {
		m.repairs.WithLabelValues(r)
	}
	if err := promreg.Register(reg, m.repairs, m.errors, m.reindexed, m.passSeconds, m.pending, m.leader); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return m, nil
}

// reason turns a repair's explanation into a metric label.
func reason(why string) string {
	switch {
	case strings.HasPrefix(why, "lease"):
		return "lease_expired"
	case strings.HasPrefix(why, "asynq"):
		return "task_missing"
	default:
		return "no_lease"
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
