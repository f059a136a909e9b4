package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	imetrics "github.com/sessionq/sessionq/internal/metrics"
)

// readyTimeout bounds the Redis PING of /readyz, so that a probe answers
// before the prober gives up on it (Kubernetes' default timeout is 1s).
const readyTimeout = 800 * time.Millisecond

// serveMetrics serves reg (plus the Go and process collectors) on
// addr/metrics until the returned stop is called, with /healthz (the
// process is up: always 200) and /readyz (200 when rdb answers PING
// within readyTimeout, else 503). An empty addr serves nothing. A busy or
// invalid address is an error at once.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, rdb redis.UniversalClient) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serving metrics on %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", readyHandler(rdb))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("metrics server", "err", err)
		}
	}()
	slog.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}

// fleetMetrics registers what a scheduler and a gateway export beside
// their own metrics: the fleet's state read from Redis on scrape (package
// internal/metrics, Fleet) and asynq's queue metrics (asynq's x/metrics).
func fleetMetrics(reg prometheus.Registerer, rdb redis.UniversalClient) error {
	return imetrics.Register(reg, imetrics.NewFleet(rdb, 0),
		asynqmetrics.NewQueueMetricsCollector(asynq.NewInspectorFromRedisClient(rdb)))
}

// countRedisErrors counts rdb's failed commands in reg
// (sessionq_redis_errors_total).
func countRedisErrors(reg prometheus.Registerer, rdb redis.UniversalClient) error {
	h, err := imetrics.NewRedisErrors(reg)
	if err != nil {
		return err
	}
	rdb.AddHook(h)
	return nil
}

// readyHandler answers 200 when rdb answers PING within readyTimeout, else
// 503 with a line that names no address or password.
func readyHandler(rdb redis.UniversalClient) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			slog.Warn("readiness: Redis does not answer", "err", err)
			http.Error(w, "redis: not reachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	}
}
