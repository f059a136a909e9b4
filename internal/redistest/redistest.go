package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"go.uber.org/goleak"
)

const (
	// EnvRedisURL names the environment variable that points the tests at
	// an existing Redis server, as a redis:// URL. When it is set, Start
	// uses that server and starts nothing.
	EnvRedisURL = "SESSIONQ_TEST_REDIS_URL"

	// EnvCI names the environment variable that, when non-empty, makes a
	// missing Redis fail the tests instead of skipping them.
	EnvCI = "CI"
)

// ExternalDBKey is the key in database 0 of an external server (see
// EnvRedisURL) that Client increments to claim a database of its own.
const ExternalDBKey = "sessionq:test:db"

const (
	redisServerBin = "redis-server"
	redisImage     = "redis:7"

	// localDBs is the number of databases of a server started by this
	// package; database 0 is never handed out.
	localDBs = 1024
	// externalDBs is the number of databases handed out on an external
	// server (1..15), which is assumed to have the default 16.
	externalDBs = 15

	dockerCheckTimeout    = 3 * time.Second
	containerStartTimeout = 2 * time.Minute
	readyTimeout          = 10 * time.Second
	stopTimeout           = 10 * time.Second
	opTimeout             = 10 * time.Second
	pollInterval          = 20 * time.Millisecond
	dialTimeout           = 500 * time.Millisecond
	portAttempts          = 3
)

// errNoRedis marks the errors that mean no way to get a Redis server
// worked; tests are skipped on them unless EnvCI is set.
var errNoRedis = errors.New("no Redis server available for tests")

type serverKind int

const (
	kindExternal serverKind = iota
	kindContainer
	kindProcess
)

func (k serverKind) String() string {
	switch k {
	case kindExternal:
		return "external server from " + EnvRedisURL
	case kindContainer:
		return "testcontainers-go container"
	default:
		return "redis-server process"
	}
}

// Server is a Redis server for tests.
type Server struct {
	// Addr is the host:port of the server.
	Addr string

	kind   serverKind
	base   *url.URL // redis:// URL of the server, without a database
	proc   *Proc    // kindProcess
	dir    string   // kindProcess: temporary directory, removed at stop
	ctr    *tcredis.RedisContainer
	nextDB atomic.Uint64
}

// URL returns the redis:// URL of database db on the server.
func (s *Server) URL(db int) string {
	u := *s.base
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

// String describes the server and how it was obtained.
func (s *Server) String() string {
	return fmt.Sprintf("%s at %s", s.kind, s.Addr)
}

// claimDB returns a database number that no other Client call of this
// process (or, on an external server, of any process using the same key)
// got recently.
func (s *Server) claimDB() (int, error) {
	if s.kind != kindExternal {
		n := s.nextDB.Add(1)
		return int((n-1)%(localDBs-1)) + 1, nil
	}
	opts, err := redis.ParseURL(s.URL(0))
	if err != nil {
		return 0, fmt.Errorf("parsing %s: %w", EnvRedisURL, err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	n, err := c.Incr(ctx, ExternalDBKey).Result()
	if err != nil {
		return 0, fmt.Errorf("claiming a database with INCR %s: %w", ExternalDBKey, err)
	}
	return int(n%externalDBs) + 1, nil
}

func (s *Server) stop() error {
	switch s.kind {
	case kindProcess:
		return errors.Join(s.proc.Stop(), os.RemoveAll(s.dir))
	case kindContainer:
		if err := testcontainers.TerminateContainer(s.ctr); err != nil {
			return fmt.Errorf("terminating redis container: %w", err)
		}
	}
	return nil
}

// shared is the server of this test binary.
var shared struct {
	once sync.Once

	mu             sync.Mutex
	srv            *Server
	err            error
	stopped        bool
	dockerAnswered bool // testcontainers may have left goroutines behind
}

// Start returns the Redis server of this test binary. The server is found
// or started once per process, in this order:
//
//  1. when EnvRedisURL is set, the server at that redis:// URL (nothing is
//     started; a URL that does not answer fails the test);
//  2. a container from the testcontainers-go redis module, when a Docker
//     engine answers a health check within about 3 seconds;
//  3. a redis-server binary from PATH, on a free port of 127.0.0.1, with its
//     own temporary directory and no persistence.
//
// A server started here is stopped by Stop, which Main calls at the end of
// the test binary. When none of the ways works, Start skips the test, or
// fails it when EnvCI is non-empty.
func Start(t testing.TB) *Server {
	t.Helper()
	srv, err := startShared()
	if err != nil {
		skipOrFail(t, err)
	}
	return srv
}

func startShared() (*Server, error) {
	shared.mu.Lock()
	stopped := shared.stopped
	shared.mu.Unlock()
	if stopped {
		return nil, errors.New("the shared Redis server was already stopped")
	}

	shared.once.Do(func() {
		srv, err := findOrStart()
		shared.mu.Lock()
		defer shared.mu.Unlock()
		if shared.stopped && srv != nil {
			// Stop ran while we were starting: do not leak the server.
			_ = srv.stop()
			srv, err = nil, errors.New("the shared Redis server was already stopped")
		}
		shared.srv, shared.err = srv, err
	})

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.stopped {
		return nil, errors.New("the shared Redis server was already stopped")
	}
	return shared.srv, shared.err
}

// Stop stops the shared server if this process started it (a container or
// a redis-server process); an external server is left alone. After Stop,
// Start and Client no longer hand out a server. Main calls Stop.
func Stop() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.stopped = true
	srv := shared.srv
	shared.srv = nil
	if srv == nil {
		return nil
	}
	return srv.stop()
}

func findOrStart() (*Server, error) {
	if raw := os.Getenv(EnvRedisURL); raw != "" {
		return useExternal(raw)
	}

	srv, dockerErr := startContainer()
	if dockerErr == nil {
		return srv, nil
	}
	srv, procErr := startProcess()
	if procErr == nil {
		return srv, nil
	}
	return nil, fmt.Errorf("%w: set %s to a redis://host:port URL, run a Docker engine for testcontainers-go, "+
		"or put %s on PATH (docker: %v; %s: %v)",
		errNoRedis, EnvRedisURL, redisServerBin, dockerErr, redisServerBin, procErr)
}

func useExternal(raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", EnvRedisURL, err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("parsing %s: want a redis:// or rediss:// URL, got scheme %q", EnvRedisURL, u.Scheme)
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", EnvRedisURL, err)
	}
	u.Path = ""
	srv := &Server{Addr: opts.Addr, kind: kindExternal, base: u}
	if err := ping(srv.URL(0)); err != nil {
		return nil, fmt.Errorf("using Redis from %s: %w", EnvRedisURL, err)
	}
	return srv, nil
}

// dockerHealthy reports whether a Docker engine answers, within
// dockerCheckTimeout, so that a machine without an engine falls through
// quickly.
func dockerHealthy() error {
	ctx, cancel := context.WithTimeout(context.Background(), dockerCheckTimeout)
	defer cancel()

	// This resolves the Docker host (testcontainers caches it) under our
	// deadline; NewDockerProvider alone would resolve it without one.
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("finding a Docker engine: %w", err)
	}
	_ = cli.Close()

	shared.mu.Lock()
	shared.dockerAnswered = true
	shared.mu.Unlock()

	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return fmt.Errorf("creating Docker provider: %w", err)
	}
	// Health closes the provider.
	if err := p.Health(ctx); err != nil {
		return fmt.Errorf("checking Docker engine health: %w", err)
	}
	return nil
}

func startContainer() (*Server, error) {
	if err := dockerHealthy(); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()
	ctr, err := tcredis.Run(ctx, redisImage, testcontainers.WithCmd(
		redisServerBin,
		"--save", "",
		"--appendonly", "no",
		"--databases", strconv.Itoa(localDBs),
	))
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return nil, fmt.Errorf("starting redis container: %w", err)
	}
	conn, err := ctr.ConnectionString(ctx)
	if err == nil {
		var u *url.URL
		if u, err = url.Parse(conn); err == nil {
			u.Path = ""
			srv := &Server{Addr: u.Host, kind: kindContainer, base: u, ctr: ctr}
			if err = ping(srv.URL(0)); err == nil {
				return srv, nil
			}
		}
	}
	_ = testcontainers.TerminateContainer(ctr)
	return nil, fmt.Errorf("connecting to redis container: %w", err)
}

func startProcess() (*Server, error) {
	bin, err := exec.LookPath(redisServerBin)
	if err != nil {
		return nil, fmt.Errorf("finding redis-server: %w", err)
	}
	dir, err := os.MkdirTemp("", "sessionq-redistest-")
	if err != nil {
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	p, err := spawnProc(bin, dir, 0, "--databases", strconv.Itoa(localDBs), "--appendonly", "no")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Server{
		Addr: p.Addr,
		kind: kindProcess,
		base: &url.URL{Scheme: "redis", Host: p.Addr},
		proc: p,
		dir:  dir,
	}, nil
}

// ping checks with a go-redis client that the server at rawURL answers.
func ping(rawURL string) error {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return fmt.Errorf("parsing Redis URL: %w", err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging Redis at %s: %w", opts.Addr, err)
	}
	return nil
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, errNoRedis) && os.Getenv(EnvCI) == "" {
		t.Skipf("redistest: %v", err)
	}
	t.Fatalf("redistest: %v", err)
}

// Client returns a client on a Redis database of its own for this test,
// and the redis://host:port/N URL of that database for subprocesses and
// asynq. Each call gets a fresh database number: counting over 1..1023 on
// a server started by this package, or, on an external server (EnvRedisURL),
// INCR of ExternalDBKey in its database 0, mod 15, plus 1. The database is
// flushed before Client returns and the client is closed when the test ends.
// Client skips or fails the test like Start when there is no Redis.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	srv := Start(t)
	db, err := srv.claimDB()
	if err != nil {
		t.Fatalf("redistest: %s: %v", srv, err)
	}
	u := srv.URL(db)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("redistest: parsing %s: %v", u, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("redistest: FLUSHDB on database %d of %s: %v", db, srv, err)
	}
	return c, u
}

// SpawnOptions configures a redis-server started by Spawn.
type SpawnOptions struct {
	// AppendOnly turns on AOF persistence (appendfsync always), so that
	// the data survives Restart, and Kill followed by Restart.
	AppendOnly bool
	// Port is the TCP port to listen on; 0 picks a free one.
	Port int
	// ReplicaOf, a host:port, makes the server a replica of that server.
	ReplicaOf string
}

// Proc is a redis-server process of its own, started by Spawn. Its port
// and directory stay the same across Restart. Its methods are safe for
// concurrent use.
type Proc struct {
	// Addr is the 127.0.0.1:port address the server listens on.
	Addr string
	// Dir is the working directory of the server, where its AOF and its
	// log (redis.log) live.
	Dir string

	bin  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when not running
	done chan struct{} // closed when cmd has exited
}

// Spawn starts a new redis-server process, separate from the shared
// server, for tests that need to stop, kill or restart Redis. It is stopped
// when the test ends. Spawn skips the test when there is no redis-server
// on PATH (or fails it when EnvCI is non-empty).
func Spawn(t testing.TB, opts SpawnOptions) *Proc {
	t.Helper()
	bin, err := exec.LookPath(redisServerBin)
	if err != nil {
		skipOrFail(t, fmt.Errorf("%w: Spawn needs %s on PATH: %w", errNoRedis, redisServerBin, err))
	}
	persistence := []string{"--appendonly", "no"}
	if opts.AppendOnly {
		persistence = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	if opts.ReplicaOf != "" {
		host, port, err := net.SplitHostPort(opts.ReplicaOf)
		if err != nil {
			t.Fatalf("redistest: ReplicaOf %q: %v", opts.ReplicaOf, err)
		}
		persistence = append(persistence, "--replicaof", host, port)
	}
	// The directory is created before the Stop cleanup is registered, so
	// it is removed after the server has stopped.
	dir := t.TempDir()
	p, err := spawnProc(bin, dir, opts.Port, persistence...)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("redistest: stopping redis-server at %s: %v", p.Addr, err)
		}
	})
	return p
}

// spawnProc starts redis-server in dir on port, or on a free port (retried
// a few times in case another process takes it first) when port is 0.
func spawnProc(bin, dir string, port int, extra ...string) (*Proc, error) {
	attempts := 1
	if port == 0 {
		attempts = portAttempts
	}
	var err error
	for range attempts {
		p := port
		if p == 0 {
			if p, err = FreePort(); err != nil {
				return nil, fmt.Errorf("starting redis-server: %w", err)
			}
		}
		proc := &Proc{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p)),
			Dir:  dir,
			bin:  bin,
			args: append([]string{
				"--port", strconv.Itoa(p),
				"--bind", "127.0.0.1",
				"--save", "",
				"--dir", dir,
				"--daemonize", "no",
				// A replica syncs at once, not after the default 5 s.
				"--repl-diskless-sync-delay", "0",
			}, extra...),
		}
		proc.mu.Lock()
		err = proc.startLocked()
		proc.mu.Unlock()
		if err == nil {
			return proc, nil
		}
	}
	return nil, err
}

// PID returns the process ID of the running server, or 0 when it is not
// running.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// URL returns the redis:// URL of the server (database 0).
func (p *Proc) URL() string {
	return "redis://" + p.Addr
}

// Client returns a client on database 0 of the server, closed when the
// test ends. It reconnects by itself after Restart.
func (p *Proc) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the server with SIGTERM, and SIGKILL if it has not exited
// within 10 seconds. Stopping a stopped server does nothing.
func (p *Proc) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopLocked()
}

// Kill kills the server with SIGKILL, as a crash would.
func (p *Proc) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killLocked()
}

// Restart stops the server if it is running and starts it again on the
// same port with the same directory, so an AOF survives; it returns once
// the server answers PING.
func (p *Proc) Restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stopLocked(); err != nil {
		return err
	}
	return p.startLocked()
}

func (p *Proc) logPath() string { return filepath.Join(p.Dir, "redis.log") }

func (p *Proc) startLocked() error {
	logf, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	setProcAttr(cmd)
	err = cmd.Start()
	_ = logf.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done

	if err := waitReady(p.Addr, done); err != nil {
		_ = p.killLocked()
		return fmt.Errorf("starting redis-server on %s: %w%s", p.Addr, err, p.logTail())
	}
	return nil
}

func (p *Proc) stopLocked() error {
	if p.cmd == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		// Already gone, or no SIGTERM on this system.
		return p.killLocked()
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		p.cmd = nil
		return nil
	case <-timer.C:
		return p.killLocked()
	}
}

func (p *Proc) killLocked() error {
	if p.cmd == nil {
		return nil
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing redis-server: %w", err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		p.cmd = nil
		return nil
	case <-timer.C:
		return fmt.Errorf("killing redis-server: pid %d still running after %v", p.cmd.Process.Pid, stopTimeout)
	}
}

// logTail returns the end of the server log, for error messages.
func (p *Proc) logTail() string {
	b, err := os.ReadFile(p.logPath())
	if err != nil || len(b) == 0 {
		return ""
	}
	const maxTail = 2000
	if len(b) > maxTail {
		b = b[len(b)-maxTail:]
	}
	return "\nredis-server log:\n" + strings.TrimRight(string(b), "\n")
}

// waitReady polls addr with PING until it answers PONG, the process exits,
// or readyTimeout passes.
func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return errors.New("redis-server exited before answering PING")
		default:
		}
		err := pingRaw(addr)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("redis-server exited before answering PING")
		case <-deadline.C:
			return fmt.Errorf("no PONG within %v: %w", readyTimeout, err)
		case <-tick.C:
		}
	}
}

// pingRaw sends one inline PING over a new connection, without go-redis,
// so that polling leaves no pool or goroutines behind.
func pingRaw(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line) // e.g. -LOADING while reading the AOF
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free when it was
// asked for.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Main runs the tests of a test binary; call it from TestMain. After the
// tests it stops the shared server (see Stop) and, when the tests passed,
// fails the binary if goroutines leaked (goleak.Find with opts, plus the
// background goroutines testcontainers-go keeps when Docker was used).
// It does not return.
func Main(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "redistest: stopping the shared Redis server: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(append(leakOptions(), opts...)...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakOptions ignores what testcontainers-go leaves running for the life
// of the process (the Ryuk reaper connection, idle Docker API connections)
// when a Docker engine answered.
func leakOptions() []goleak.Option {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.dockerAnswered {
		return nil
	}
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/testcontainers/testcontainers-go.(*Reaper).connect.func1"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	}
}
