// Package gateway is sessionq's HTTP/JSON server: the session protocol of
// the multichannel HTTP channel (establish a session with createSession and
// a terminal ID, carry its sessionId in every request and get it echoed,
// application sub-sessions, out-of-session operations) over the session
// table and the job client, for users with rights and API tokens (package
// users).
//
// Every request but login and health is a connection: it carries
// "Authorization: Bearer TOKEN" and acts as the token's user. /metrics
// shows queue names and sizes: on Config.Addr it needs the token of a user
// with read:all (or admin); with Config.MetricsAddr it is served there
// instead, without a token, and not on Config.Addr. With
// Config.TLSCertFile the gateway serves HTTPS, and its cookies are Secure. A request
// may name a session (header Sessionq-Session, else cookie
// sessionq_session, else query parameter sessionId; a path
// /v1/sessions/{id} names its own); it then acts as the session's owner for
// writes and reads only what both the owner and the connection's user may
// read. A session is usable by its owner, the connection user that opened
// it, and admins; to anyone else it does not exist (404).
//
// The OpenAPI description is served at /openapi.json (3.1) and
// /openapi-3.0.json.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

// Protocol names: the wire package's (api), kept here for callers that
// name them through the gateway.
const (
	HeaderSession      = api.HeaderSession
	CookieSession      = api.CookieSession
	QuerySession       = api.QuerySession
	HeaderApplication  = api.HeaderApplication
	QueryApplication   = api.QueryApplication
	HeaderOutOfSession = api.HeaderOutOfSession
	QueryOutOfSession  = api.QueryOutOfSession
)

// Defaults of Config.
const (
	DefaultAddr          = "127.0.0.1:8080"
	DefaultMaxBody       = 2 << 20
	DefaultReadTimeout   = 30 * time.Second
	DefaultWriteTimeout  = 30 * time.Second
	DefaultIdleTimeout   = 2 * time.Minute
	DefaultShutdownGrace = 10 * time.Second
	DefaultLoginRate     = 10 // per minute, per user name and client address
	DefaultLoginTokenTTL = 24 * time.Hour
	DefaultEventPoll     = 200 * time.Millisecond
	DefaultJobRecordTTL  = 7 * 24 * time.Hour
	// DefaultLoginFailureCeiling caps failed password checks per minute
	// over every user and address of one gateway process.
	DefaultLoginFailureCeiling = 600
	// DefaultMaxStreams caps the event streams one gateway process holds.
	DefaultMaxStreams = 1024
	// DefaultMaxStreamsPerUser caps the event streams one user holds open
	// on one gateway process.
	DefaultMaxStreamsPerUser = 16
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Addr is where Start listens. Default DefaultAddr (127.0.0.1:8080).
	Addr string
	// MaxBody caps a request body, in bytes (a file upload may be as large
	// as the session table's file cap plus this). Default 2 MiB.
	MaxBody int64
	// ReadTimeout and WriteTimeout bound one request (event streams are
	// exempt from WriteTimeout). Default 30s each.
	ReadTimeout, WriteTimeout time.Duration
	// IdleTimeout bounds a kept-alive connection between requests.
	// Default 2m.
	IdleTimeout time.Duration
	// ShutdownGrace is how long Stop lets requests in flight finish.
	// Default 10s.
	ShutdownGrace time.Duration
	// LoginRate is how many password checks (login, the dashboard's login,
	// opening a session with a password) one user name may make from one
	// client address per minute, with an exponential backoff after three
	// consecutive failures; a client address may fail 3*LoginRate times a
	// minute over all names. Default 10.
	LoginRate int
	// LoginTokenTTL is the life of a token that POST /v1/login answers.
	// Default 24h.
	LoginTokenTTL time.Duration
	// EventPoll is how often event streams look at job states. Default
	// 200ms.
	EventPoll time.Duration
	// JobRecordTTL is how long the gateway remembers who submitted a job.
	// Default 7 days.
	JobRecordTTL time.Duration
	// MaxFileSize is the largest file upload; it should match the session
	// table's. Default sessiontable's default (1 MiB).
	MaxFileSize int64
	// CookieSecure marks the session and dashboard cookies Secure (serve
	// behind a TLS-terminating proxy). Default false; always true when
	// TLSCertFile is set.
	CookieSecure bool
	// TLSCertFile and TLSKeyFile make Start serve HTTPS with this
	// certificate and key (PEM files). Default "": plain HTTP.
	TLSCertFile, TLSKeyFile string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// is believed: the client address of a request from one of them is the
	// right-most address of that header that is not itself a trusted proxy.
	// Default none: X-Forwarded-For is ignored and the peer address counts.
	TrustedProxies []netip.Prefix
	// LoginFailureCeiling caps the failed password checks per minute over
	// every user and address of this process, against password spraying.
	// Default DefaultLoginFailureCeiling (600).
	LoginFailureCeiling int
	// MetricsAddr serves /metrics on a listener of its own, without
	// authentication (bind it to an address only the monitoring system
	// reaches). Default "": /metrics is served on Addr and needs the token
	// of a user with read:all (or admin).
	MetricsAddr string
	// MaxStreams caps the event streams this process holds open; one more
	// is refused with 429 too_many_streams. Default DefaultMaxStreams
	// (1024).
	MaxStreams int
	// MaxStreamsPerUser caps the event streams one user holds open on this
	// process; one more is refused with 429 too_many_streams. Default
	// DefaultMaxStreamsPerUser (16).
	MaxStreamsPerUser int
	// Logger receives access logs and errors. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the gateway's metrics and is served at /metrics.
	// Default a new registry of its own.
	Registry *prometheus.Registry
	// NoDashboard leaves the operator dashboard (UIPath) out. Default false:
	// it is served.
	NoDashboard bool
}

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.LoginRate == 0 {
		c.LoginRate = DefaultLoginRate
	}
	if c.LoginTokenTTL == 0 {
		c.LoginTokenTTL = DefaultLoginTokenTTL
	}
	if c.EventPoll == 0 {
		c.EventPoll = DefaultEventPoll
	}
	if c.JobRecordTTL == 0 {
		c.JobRecordTTL = DefaultJobRecordTTL
	}
	if c.MaxFileSize == 0 {
		c.MaxFileSize = 1 << 20
	}
	if c.LoginFailureCeiling == 0 {
		c.LoginFailureCeiling = DefaultLoginFailureCeiling
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.MaxStreamsPerUser == 0 {
		c.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	if c.TLSCertFile != "" {
		c.CookieSecure = true
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch {
	case c.MaxBody < 1024:
		return fmt.Errorf("gateway: MaxBody %d: want at least 1024 bytes", c.MaxBody)
	case c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 || c.ShutdownGrace < 0:
		return errors.New("gateway: timeouts must not be negative")
	case c.LoginRate < 0:
		return fmt.Errorf("gateway: LoginRate %d is negative", c.LoginRate)
	case c.LoginTokenTTL < time.Second:
		return fmt.Errorf("gateway: LoginTokenTTL %s: want at least 1s", c.LoginTokenTTL)
	case c.EventPoll < time.Millisecond:
		return fmt.Errorf("gateway: EventPoll %s: want at least 1ms", c.EventPoll)
	case c.JobRecordTTL < time.Minute:
		return fmt.Errorf("gateway: JobRecordTTL %s: want at least 1m", c.JobRecordTTL)
	case c.MaxFileSize < 0:
		return fmt.Errorf("gateway: MaxFileSize %d is negative", c.MaxFileSize)
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("gateway: TLSCertFile and TLSKeyFile go together")
	case c.LoginFailureCeiling < 0:
		return fmt.Errorf("gateway: LoginFailureCeiling %d is negative", c.LoginFailureCeiling)
	case c.MaxStreams < 0 || c.MaxStreamsPerUser < 0:
		return errors.New("gateway: MaxStreams and MaxStreamsPerUser must not be negative")
	case c.MaxStreamsPerUser > c.MaxStreams:
		return fmt.Errorf("gateway: MaxStreamsPerUser %d is more than MaxStreams %d", c.MaxStreamsPerUser, c.MaxStreams)
	}
	return nil
}

// Server is the HTTP gateway. Start serves it on Config.Addr; Handler
// gives it to a server of the caller's.
type Server struct {
	rdb    redis.UniversalClient
	table  *sessiontable.Table
	jobs   *jobs.Client
	users  *users.Store
	cfg    Config
	log    *slog.Logger
	api    huma.API
	router *chi.Mux
	met    *metrics
	logins *throttle

	streams streamCount // event streams open, against MaxStreams

	quit     chan struct{} // closed by Stop: event streams end
	quitOnce sync.Once

	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	done    chan struct{}
	msrv    *http.Server // the metrics listener's, with Config.MetricsAddr
	mln     net.Listener
	mdone   chan struct{}
	stopped bool
}

// New returns a Server on rdb, the session table, the job client and the
// user store, all on that Redis.
func New(rdb redis.UniversalClient, table *sessiontable.Table, jc *jobs.Client, us *users.Store, cfg Config) (*Server, error) {
	if rdb == nil || table == nil || jc == nil || us == nil {
		return nil, errors.New("gateway: New needs Redis, a session table, a job client and a user store")
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{rdb: rdb, table: table, jobs: jc, users: us, cfg: c, log: c.Logger,
		logins: newThrottle(c.LoginRate, c.LoginFailureCeiling), quit: make(chan struct{})}
	if s.met, err = newMetrics(c.Registry); err != nil {
		return nil, err
	}
	if err := s.registerFleet(); err != nil {
		return nil, err
	}
	s.router = chi.NewMux()
	s.router.Use(s.observe)
	s.router.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONError(w, http.StatusNotFound, CodeNotFound, "no such route")
	})
	s.router.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this route")
	})
	if c.MetricsAddr == "" {
		s.router.Handle("/metrics", s.metricsAuth(promhttp.HandlerFor(c.Registry, promhttp.HandlerOpts{})))
	}
	s.api = humachi.New(s.router, apiConfig())
	s.api.UseMiddleware(errorStatus, s.middleware)
	s.register()
	if !c.NoDashboard {
		if err := s.mountDashboard(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Handler is the gateway as an http.Handler.
func (s *Server) Handler() http.Handler { return s.router }

// OpenAPI is the gateway's OpenAPI description.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// metricsAuth lets through a request with the Bearer token of a user with
// read:all (or admin): /metrics served on Config.Addr shows queue names
// and sizes.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok = strings.TrimSpace(tok); !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSONError(w, http.StatusUnauthorized, CodeUnauthenticated, "/metrics needs Authorization: Bearer TOKEN of a user with read:all (or a metrics address of its own)")
			return
		}
		u, err := s.users.Authenticate(r.Context(), tok)
		switch {
		case errors.Is(err, users.ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSONError(w, http.StatusUnauthorized, CodeUnauthenticated, "invalid or revoked token")
			return
		case err != nil:
			ae := s.internal(r.Context(), "authenticating", err)
			writeJSONError(w, ae.status, ae.Detail.Code, ae.Detail.Message)
			return
		case !u.Has(users.ReadAll):
			writeJSONError(w, http.StatusForbidden, CodeForbidden, "/metrics needs read:all (or admin)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Start listens on Config.Addr (HTTPS with Config.TLSCertFile) and, with
// Config.MetricsAddr, on that address for /metrics, and serves in the
// background until Stop.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.stopped {
		return errors.New("gateway: started twice")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var tlsConf *tls.Config
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("gateway: loading the TLS certificate and key: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	if s.cfg.MetricsAddr != "" {
		if s.mln, err = lc.Listen(ctx, "tcp", s.cfg.MetricsAddr); err != nil {
			_ = ln.Close()
			return fmt.Errorf("listening on %s for /metrics: %w", s.cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
		s.msrv = &http.Server{
			Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: s.cfg.WriteTimeout,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		s.mdone = make(chan struct{})
		go func(srv *http.Server, ln net.Listener, done chan struct{}) {
			defer close(done)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("gateway stopped serving /metrics", "err", err)
			}
		}(s.msrv, s.mln, s.mdone)
		s.log.Info("gateway serving /metrics", "addr", s.mln.Addr().String())
	}
	s.ln = ln
	s.srv = &http.Server{
		TLSConfig:         tlsConf,
		Handler:           s.router,
		ReadHeaderTimeout: min(s.cfg.ReadTimeout, 10*time.Second),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		serve := func() error { return s.srv.Serve(ln) }
		if tlsConf != nil {
			serve = func() error { return s.srv.ServeTLS(ln, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("gateway stopped serving", "err", err)
		}
	}()
	s.log.Info("gateway listening", "addr", ln.Addr().String(), "tls", tlsConf != nil)
	return nil
}

// MetricsAddr is the address Start serves /metrics on with
// Config.MetricsAddr ("" before Start, or without it).
func (s *Server) MetricsAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mln == nil {
		return ""
	}
	return s.mln.Addr().String()
}

// Addr is the address Start listens on ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop shuts the server down, letting requests in flight finish for up to
// Config.ShutdownGrace; event streams are ended. It is safe to call twice
// or before Start.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.quitOnce.Do(func() { close(s.quit) })
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	s.srv = nil
	if s.msrv != nil {
		if err := s.msrv.Shutdown(ctx); err != nil {
			_ = s.msrv.Close()
		}
		<-s.mdone
		s.msrv = nil
	}
}
