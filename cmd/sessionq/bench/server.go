package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoRedisServer means there is no redis-server binary on PATH for the
// bench to start.
var ErrNoRedisServer = errors.New("bench: no redis-server on PATH")

// Server is a redis-server process started by the bench for itself, on a
// free port of 127.0.0.1, without persistence, in a temporary directory.
type Server struct {
	Addr string

	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// StartServer starts redis-server. Stop it with Stop.
func StartServer(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedisServer
	}
	dir, err := os.MkdirTemp("", "sessionq-bench-")
	if err != nil {
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	for range 3 { // the free port may be taken before the server binds it
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
		s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
		s.cmd.Dir = dir
		setProcAttr(s.cmd)
		if err := s.cmd.Start(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("starting redis-server: %w", err)
		}
		go func() { _ = s.cmd.Wait(); close(s.done) }()
		if err := s.waitReady(ctx); err == nil {
			return s, nil
		}
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = os.RemoveAll(dir)
	return nil, errors.New("bench: redis-server did not answer PING on three free ports")
}

// URL is the redis:// URL of database 0 of the server.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

func (s *Server) waitReady(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.done:
			return errors.New("redis-server exited")
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("redis-server at %s: no PONG: %w", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 5s) and removes its
// directory. It is safe to call twice.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = os.RemoveAll(s.dir)
	s.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
