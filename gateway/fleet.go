package gateway

import (
	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"

	imetrics "github.com/sessionq/sessionq/internal/metrics"
)

// registerFleet adds the fleet's state (backlogs, open sessions, leases,
// hot sessions: read from Redis on scrape) and asynq's queue metrics to the
// gateway's /metrics.
func (s *Server) registerFleet() error {
	return imetrics.Register(s.cfg.Registry,
		imetrics.NewFleet(s.rdb, 0),
		asynqmetrics.NewQueueMetricsCollector(asynq.NewInspectorFromRedisClient(s.rdb)))
}
