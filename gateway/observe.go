package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	imetrics "github.com/sessionq/sessionq/internal/metrics"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	streams  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionq_gateway_requests_total",
			Help: "HTTP requests answered by the gateway, by route, method and status.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sessionq_gateway_request_duration_seconds",
			Help:    "Time to answer a gateway request (event streams excluded), by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionq_gateway_event_streams",
			Help: "Event streams open now.",
		}),
	}
	return m, imetrics.Register(reg, m.requests, m.duration, m.streams)
}

// who carries the authenticated user name from the middleware back to the
// access log.
type who struct{ user string }

type whoKey struct{}

func observed(ctx context.Context, user string) {
	if w, ok := ctx.Value(whoKey{}).(*who); ok {
		w.user = user
	}
}

// observe writes one structured access log line per request and counts it.
// It never logs the query string, headers or bodies.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		wh := &who{}
		ctx := context.WithValue(r.Context(), whoKey{}, wh)
		next.ServeHTTP(ww, r.WithContext(ctx))
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		s.met.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		if ww.Header().Get("Content-Type") != "text/event-stream" {
			s.met.duration.WithLabelValues(route).Observe(d.Seconds())
		}
		s.log.LogAttrs(r.Context(), levelFor(status), "http",
			slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Int("bytes", ww.BytesWritten()),
			slog.Duration("took", d), slog.String("user", wh.user),
			slog.String("remote", s.clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))))
	})
}

// levelFor: every request is worth an info line; server errors are errors.
func levelFor(status int) slog.Level {
	if status >= http.StatusInternalServerError {
		return slog.LevelError
	}
	return slog.LevelInfo
}
