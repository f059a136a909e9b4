// Package devredis runs an embedded, in-memory Redis (miniredis) for
// sessionq's all-in-one dev mode and its demo, so that they work on a machine
// without any Redis. It is for one process on one machine: nothing is
// persisted, and it is not meant to carry production traffic.
package devredis

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/alicebob/miniredis/v2"
)

// DefaultAddr is where Start listens: a free port of the loopback interface.
const DefaultAddr = "127.0.0.1:0"

// Server is an embedded Redis server listening on a TCP address.
type Server struct {
	m    *miniredis.Miniredis
	once sync.Once
}

// Start starts an embedded Redis on a free port of 127.0.0.1.
func Start(ctx context.Context) (*Server, error) { return StartAddr(ctx, DefaultAddr) }

// StartAddr starts an embedded Redis listening on addr (host:port; port 0
// picks a free one).
func StartAddr(ctx context.Context, addr string) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devredis: %w", err)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("devredis: invalid listen address %q: %w", addr, err)
	}
	m := miniredis.NewMiniRedis()
	// miniredis only ages TTLs on FastForward unless told to follow the
	// clock. sessionq relies on real expiry (leadership terms, job record
	// retention, session idle timeouts), so TTLs run against the wall clock.
	m.ClockTTL(true)
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("devredis: starting embedded Redis on %s: %w", addr, err)
	}
	return &Server{m: m}, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.m.Addr() }

// URL is the redis:// URL of the server's database 0.
func (s *Server) URL() string { return "redis://" + s.m.Addr() + "/0" }

// Close stops the server and drops its data. It is safe to call twice.
func (s *Server) Close() { s.once.Do(s.m.Close) }
