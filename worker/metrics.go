package worker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	promreg "github.com/sessionq/sessionq/internal/metrics"
)

// metrics are the worker's Prometheus collectors. They are always counted;
// they are exported only when Config.Registerer is set.
type metrics struct {
	started  *prometheus.CounterVec
	finished *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inline   prometheus.Counter
	dropped  *prometheus.CounterVec
	lost     prometheus.Counter
	handback prometheus.Counter
	running  prometheus.Gauge
	// renewFailed counts runs stopped because their lease could not be
	// renewed in time.
	renewFailed prometheus.Counter
	// handoffs counts how a session passed to its next job: inline on the
	// same slot, or through the queue (a new asynq task).
	handoffs *prometheus.CounterVec
	// wait is the time from submit to the start of a job's first run (a
	// plain job's asynq task carries the submit time in a header; a session
	// job's record has it).
	wait *prometheus.HistogramVec
	// declined counts tasks handed back unopened because this worker has
	// no handler for their type, by type and reason: handled_elsewhere (a
	// live worker has one) or no_live_handler (the job waits for one).
	declined *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionq_jobs_started_total", Help: "Job runs started, by job type and kind (session or plain).",
		}, []string{"type", "kind"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionq_jobs_finished_total", Help: "Job runs ended, by job type and outcome (succeeded, retry, failed, cancelled).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessionq_job_duration_seconds", Help: "Handler run time, by job type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"type"}),
		inline: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionq_inline_runs_total", Help: "Session jobs run at once by the slot that ran their predecessor (affinity).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionq_tasks_dropped_total", Help: "asynq tasks of session jobs dropped at acquire, by verdict (stale, busy, wait, done, gone).",
		}, []string{"verdict"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionq_leases_lost_total", Help: "Session leases lost while a job ran (the job was cancelled and fenced).",
		}),
		handback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionq_handbacks_total", Help: "Running session jobs handed back on shutdown.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionq_jobs_running", Help: "Jobs running on this worker now.",
		}),
		renewFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionq_lease_renew_failures_total", Help: "Session job runs stopped because their lease could not be renewed in time (Redis unreachable).",
		}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionq_handoffs_total", Help: "Session hand-offs to the next job, by way: inline (same slot, no asynq task) or queue (a new asynq task).",
		}, []string{"via"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessionq_job_wait_seconds", Help: "Time from submit to the start of a job's first run, by job type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"type"}),
	}
	m.declined = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sessionq_tasks_declined_total", Help: "Tasks handed back unopened (no attempt charged) because this worker has no handler for their type, by type and reason (handled_elsewhere, no_live_handler: the job waits for a handler).",
	}, []string{"type", "reason"})
	m.handoffs.WithLabelValues("inline")
	m.handoffs.WithLabelValues("queue")
	for _, v := range []string{"stale", "busy", "wait", "done", "gone"} {
		m.dropped.WithLabelValues(v)
	}
	if err := promreg.Register(reg, m.started, m.finished, m.duration, m.inline, m.dropped, m.lost, m.handback, m.running, m.renewFailed, m.handoffs, m.wait, m.declined); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return m, nil
}
