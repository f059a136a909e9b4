package redistest

import (
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
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	redisSentinelBin = "redis-sentinel"

	// SentinelMaster is the name the sentinels of [Sentinel] monitor the
	// primary under.
	SentinelMaster = "sq-primary"

	sentinelReadyTimeout = 30 * time.Second
)

// SentinelOptions configures a replicated Redis started by [Sentinel].
type SentinelOptions struct {
	// DownAfter is the time a primary must not answer before the sentinels
	// call it down (down-after-milliseconds). Default 1s.
	DownAfter time.Duration
	// FailoverTimeout is the sentinels' failover-timeout. Default 5s.
	FailoverTimeout time.Duration
}

// SentinelSet is a primary, one replica and three sentinels (quorum 2),
// each a process of its own on a free port of 127.0.0.1, started by
// [Sentinel]. Roles move on a failover: ask [SentinelSet.Master].
type SentinelSet struct {
	// Servers are the two redis-servers: index 0 starts as the primary,
	// index 1 as its replica.
	Servers [2]*Proc
	// Sentinels are the three redis-sentinel processes.
	Sentinels [3]*Proc
}

// Sentinel starts a primary, a replica of it and three sentinels that
// monitor the primary as [SentinelMaster], and returns once the replica is
// in sync and every sentinel knows the replica and the two other sentinels
// (so that a failover can be voted). Every process is ended (by its PID)
// when the test ends. Sentinel skips the test when redis-server or
// redis-sentinel is not on PATH (or fails it when EnvCI is non-empty).
func Sentinel(t testing.TB, opts SentinelOptions) *SentinelSet {
	t.Helper()
	if opts.DownAfter <= 0 {
		opts.DownAfter = time.Second
	}
	if opts.FailoverTimeout <= 0 {
		opts.FailoverTimeout = 5 * time.Second
	}
	srvBin, err := exec.LookPath(redisServerBin)
	if err != nil {
		skipOrFail(t, fmt.Errorf("%w: Sentinel needs %s on PATH: %w", errNoRedis, redisServerBin, err))
	}
	sentBin, err := exec.LookPath(redisSentinelBin)
	if err != nil {
		skipOrFail(t, fmt.Errorf("%w: Sentinel needs %s on PATH (Debian: apt-get install redis-sentinel): %w",
			errNoRedis, redisSentinelBin, err))
	}
	s := &SentinelSet{}
	stopLater := func(p *Proc) {
		t.Cleanup(func() {
			if err := p.Stop(); err != nil {
				t.Errorf("redistest: stopping %s: %v", p.Addr, err)
			}
		})
	}
	primary, err := spawnProc(srvBin, t.TempDir(), 0, "--appendonly", "no")
	if err != nil {
		t.Fatalf("redistest: starting the primary: %v", err)
	}
	stopLater(primary)
	host, port, _ := net.SplitHostPort(primary.Addr)
	replica, err := spawnProc(srvBin, t.TempDir(), 0, "--appendonly", "no", "--replicaof", host, port)
	if err != nil {
		t.Fatalf("redistest: starting the replica: %v", err)
	}
	stopLater(replica)
	s.Servers = [2]*Proc{primary, replica}

	conf := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\n"+
		"sentinel down-after-milliseconds %[1]s %[4]d\n"+
		"sentinel failover-timeout %[1]s %[5]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		SentinelMaster, host, port, opts.DownAfter.Milliseconds(), opts.FailoverTimeout.Milliseconds())
	for i := range s.Sentinels {
		p, err := spawnSentinel(sentBin, t.TempDir(), conf)
		if err != nil {
			t.Fatalf("redistest: starting sentinel %d: %v", i, err)
		}
		stopLater(p)
		s.Sentinels[i] = p
	}

	ctx, cancel := context.WithTimeout(context.Background(), sentinelReadyTimeout)
	defer cancel()
	if err := s.waitReady(ctx); err != nil {
		t.Fatalf("redistest: sentinel set not ready: %v", err)
	}
	return s
}

// spawnSentinel starts redis-sentinel in dir with a config file holding
// conf (a sentinel rewrites its config file, so each has its own), on a
// free port, retried like spawnProc.
func spawnSentinel(bin, dir, conf string) (*Proc, error) {
	file := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("writing sentinel config: %w", err)
	}
	var err error
	for range portAttempts {
		var port int
		if port, err = FreePort(); err != nil {
			return nil, fmt.Errorf("starting redis-sentinel: %w", err)
		}
		p := &Proc{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Dir:  dir,
			bin:  bin,
			args: []string{file, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no"},
		}
		p.mu.Lock()
		err = p.startLocked()
		p.mu.Unlock()
		if err == nil {
			return p, nil
		}
	}
	return nil, err
}

// waitReady polls until the replica is in sync and each sentinel knows
// one replica and two other sentinels.
func (s *SentinelSet) waitReady(ctx context.Context) error {
	var last error
	for {
		if last = s.ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *SentinelSet) ready(ctx context.Context) error {
	octx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := waitOnline(octx, s.Servers[0].Addr, 1)
	cancel()
	if err != nil {
		return err
	}
	for _, p := range s.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: p.Addr})
		m, err := sc.Master(ctx, SentinelMaster).Result()
		_ = sc.Close()
		if err != nil {
			return fmt.Errorf("asking sentinel %s: %w", p.Addr, err)
		}
		if m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
			return fmt.Errorf("sentinel %s knows %s replicas and %s other sentinels", p.Addr, m["num-slaves"], m["num-other-sentinels"])
		}
	}
	return nil
}

// URL returns a redis:// URL for `--redis-mode sentinel` (go-redis
// ParseFailoverURL): the first sentinel as host, the others as addr
// parameters, master_name and database db.
func (s *SentinelSet) URL(db int) string {
	q := url.Values{}
	q.Set("master_name", SentinelMaster)
	for _, p := range s.Sentinels[1:] {
		q.Add("addr", p.Addr)
	}
	u := url.URL{Scheme: "redis", Host: s.Sentinels[0].Addr, Path: "/" + strconv.Itoa(db), RawQuery: q.Encode()}
	return u.String()
}

// Client returns a failover client on database 0 of the current primary,
// which follows a failover by itself; it is closed when the test ends.
func (s *SentinelSet) Client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseFailoverURL(s.URL(0))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c := redis.NewFailoverClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Master returns the address of the primary as the first sentinel that
// answers names it.
func (s *SentinelSet) Master(ctx context.Context) (string, error) {
	var errs []error
	for _, p := range s.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, MaxRetries: -1})
		addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		_ = sc.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1]), nil
		}
		errs = append(errs, fmt.Errorf("sentinel %s: %w", p.Addr, err))
	}
	return "", fmt.Errorf("no sentinel names the primary: %w", errors.Join(errs...))
}

// Server returns the redis-server process listening on addr, or nil.
func (s *SentinelSet) Server(addr string) *Proc {
	for _, p := range s.Servers {
		if p.Addr == addr {
			return p
		}
	}
	return nil
}

// WaitFailover waits until a sentinel names a primary other than old and
// that server answers as a primary, and returns its address. It returns an
// error when ctx ends first.
func (s *SentinelSet) WaitFailover(ctx context.Context, old string) (string, error) {
	var last error
	for {
		for _, p := range s.Sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, MaxRetries: -1})
			addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
			_ = sc.Close()
			if err != nil || len(addr) != 2 {
				last = fmt.Errorf("sentinel %s: %v", p.Addr, err)
				continue
			}
			if a := net.JoinHostPort(addr[0], addr[1]); a != old {
				c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
				info, err := c.Info(ctx, "replication").Result()
				_ = c.Close()
				if err == nil && strings.Contains(info, "role:master") {
					return a, nil
				}
				last = fmt.Errorf("%s not a primary yet: %v", a, err)
			} else {
				last = fmt.Errorf("sentinel %s still names %s", p.Addr, old)
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for a failover: %w (last: %v)", ctx.Err(), last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// WaitReplicaOf waits until the server at addr is a replica in sync with
// the primary at primary (the sentinels reconfigure a former primary that
// comes back) and online from the primary's point of view, or ctx ends.
func (s *SentinelSet) WaitReplicaOf(ctx context.Context, addr, primary string) error {
	host, port, _ := net.SplitHostPort(primary)
	var last string
	for {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		info, err := c.Info(ctx, "replication").Result()
		_ = c.Close()
		if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_host:"+host) &&
			strings.Contains(info, "master_port:"+port) && strings.Contains(info, "master_link_status:up") {
			return waitOnline(ctx, primary, 1)
		}
		last = info
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to replicate %s: %w (last: %q, %v)", addr, primary, ctx.Err(), last, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitReplicas waits until n replicas of the server are online from the
// server's own point of view (INFO replication: connected_slaves:n, each
// state=online), which is what WAIT counts; a replica says its link is up
// up to a second before that. It fails the test after 30 seconds.
func (p *Proc) WaitReplicas(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sentinelReadyTimeout)
	defer cancel()
	if err := waitOnline(ctx, p.Addr, n); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

func waitOnline(ctx context.Context, addr string, n int) error {
	var last string
	for {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		info, err := c.Info(ctx, "replication").Result()
		_ = c.Close()
		if err == nil && strings.Contains(info, "connected_slaves:"+strconv.Itoa(n)+"\r") &&
			strings.Count(info, "state=online") == n {
			return nil
		}
		last = info
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d replicas of %s online: %w (last: %q, %v)", n, addr, ctx.Err(), last, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RestartAsReplica stops the server if it is running and starts it again
// as a replica of primary (host:port), as a careful supervisor restarts a
// crashed primary: restarted as a primary without persistence, it would
// take writes as an empty primary until the sentinels reconfigure it (up
// to 10 s), and lose them then.
func (p *Proc) RestartAsReplica(primary string) error {
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		return fmt.Errorf("restarting as a replica of %q: %w", primary, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stopLocked(); err != nil {
		return err
	}
	args := make([]string, 0, len(p.args)+3)
	for i := 0; i < len(p.args); i++ {
		if p.args[i] == "--replicaof" && i+2 < len(p.args) {
			i += 2
			continue
		}
		args = append(args, p.args[i])
	}
	p.args = append(args, "--replicaof", host, port)
	return p.startLocked()
}
