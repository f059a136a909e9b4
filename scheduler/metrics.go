package scheduler

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/sessionq/sessionq/internal/metrics"
)

type metrics struct {
	repairs *prometheus.CounterVec
	pending prometheus.Gauge
	leader  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionq_reconciler_repairs_total", Help: "Stuck sessions repaired, by reason (lease_expired, task_missing, no_lease).",
		}, []string{"reason"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionq_sessions_pending", Help: "Sessions with unfinished jobs, at the last reconciler pass.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionq_scheduler_leader", Help: "1 when this scheduler leads.",
		}),
	}
	if err := promreg.Register(reg, m.repairs, m.pending, m.leader); err != nil {
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
