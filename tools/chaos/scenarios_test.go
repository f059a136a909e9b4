package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// settleWithin bounds the wait for the last jobs of a scenario: long
// enough for every repair path (lease, repair pass, leader term, and
// asynq's own 30 s task lease), short enough that a stuck session shows as
// lost instead of a hung suite.
const settleWithin = 90 * time.Second

// Three workers under continuous submission from four submitters; twenty
// times a random worker gets kill -9 and a new one takes its place. No
// scheduler process runs: the workers alone must repair what the killed
// ones held.
func TestKillStorm(t *testing.T) {
	scenario(t)
	rdb, url := redistest.Client(t)
	f := newFleet(t, url, WorkerOptions{Concurrency: 4, Lease: 2 * time.Second, RepairInterval: 500 * time.Millisecond})
	for range 3 {
		f.worker("")
	}
	l := submit(t, url, loadSpec{submitters: 4, sessions: 24, every: 100 * time.Millisecond, payloads: []string{"100ms"}})
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	const kills = 20
	for range kills {
		time.Sleep(500*time.Millisecond + time.Duration(r.IntN(1000))*time.Millisecond)
		f.replace(r.IntN(3))
	}
	l.stop()
	states, _ := settle(t, rdb, f.watch, l.acked(), settleWithin)
	report(t, "kill-storm", f, l, states, fmt.Sprintf("kills=%d workers=3 lease=2s", kills))
}

// Redis (AOF on, appendfsync always) is killed with kill -9 and restarted
// on the same port and directory, twice (down 1 s, then 3 s: longer than
// the lease), while two workers run and three submitters submit.
func TestRedisRestart(t *testing.T) {
	scenario(t)
	srv := redistest.Spawn(t, redistest.SpawnOptions{AppendOnly: true})
	rdb := srv.Client(t)
	f := newFleet(t, srv.URL(), WorkerOptions{Concurrency: 4, Lease: 2 * time.Second, RepairInterval: 500 * time.Millisecond})
	for range 2 {
		f.worker("")
	}
	l := submit(t, srv.URL(), loadSpec{submitters: 3, sessions: 16, every: 100 * time.Millisecond, payloads: []string{"100ms"}})
	// Down shorter than the lease, then longer: the second outage makes
	// every running job lose its lease.
	downs := []time.Duration{time.Second, 3 * time.Second}
	time.Sleep(5 * time.Second)
	for _, down := range downs {
		require.NoError(t, srv.Kill())
		time.Sleep(down)
		require.NoError(t, srv.Restart())
		time.Sleep(5 * time.Second)
	}
	l.stop()
	states, _ := settle(t, rdb, f.watch, l.acked(), settleWithin)
	report(t, "redis-restart", f, l, states, fmt.Sprintf("restarts=%d down=%v lease=2s", len(downs), downs))
}

// One of three workers reaches Redis through a proxy that is cut for 30 s
// while the worker runs session jobs (half of 300 ms, half of 5 s: longer
// than the 3 s lease), then healed. Two ways to cut:
// blackhole (connections stay open, no byte passes: calls hang until their
// timeouts) and reset (every connection closed, new ones refused). The
// figure that matters is overlaps: no two runs of one session alive at
// once, measured from the job commands' own start and end times. The line
// also gives how long the cut-off worker's commands ran on after the cut.
func TestPartition(t *testing.T) {
	scenario(t)
	for _, mode := range []Mode{Blackhole, Reset} {
		t.Run(mode.String(), func(t *testing.T) {
			rdb, dbURL := redistest.Client(t)
			u, err := url.Parse(dbURL)
			require.NoError(t, err)
			p, err := NewProxy(u.Host)
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Close() })
			u.Host = p.Addr()
			const lease = 3 * time.Second
			f := newFleet(t, dbURL, WorkerOptions{Concurrency: 4, Lease: lease, RepairInterval: 500 * time.Millisecond})
			cutOff := f.worker(u.String())
			f.worker("")
			f.worker("")
			l := submit(t, dbURL, loadSpec{submitters: 3, sessions: 12, every: time.Second, payloads: []string{"300ms", "5s"}})
			time.Sleep(5 * time.Second)
			waitFor(t, 20*time.Second, "the cut-off worker runs a session job", func() bool {
				return len(aliveOn(t, f.watch, cutOff.Pid())) > 0
			})
			cutAt := time.Now()
			if mode == Blackhole {
				p.Blackhole()
			} else {
				p.Cut()
			}
			time.Sleep(30 * time.Second)
			p.Heal()
			time.Sleep(10 * time.Second)
			l.stop()
			states, _ := settle(t, rdb, f.watch, l.acked(), settleWithin)
			runs, err := f.watch.Runs()
			require.NoError(t, err)
			var ranOn time.Duration
			for _, r := range runs {
				if r.Worker == cutOff.Pid() && r.Start.Before(cutAt) && r.End.After(cutAt) {
					ranOn = max(ranOn, r.End.Sub(cutAt))
				}
			}
			report(t, "partition-"+mode.String(), f, l, states,
				fmt.Sprintf("cut=30s lease=%s cut_off_runs_alive_after_cut=%s", lease, ranOn.Round(time.Millisecond)))
		})
	}
}

// A worker is paused with SIGSTOP for longer than its lease, then resumed
// with SIGCONT, five times, while three workers run jobs of 300 ms. Its job
// commands are not paused (only the worker is), as with a stalled process.
func TestPausedWorker(t *testing.T) {
	scenario(t)
	rdb, url := redistest.Client(t)
	const lease = 2 * time.Second
	f := newFleet(t, url, WorkerOptions{Concurrency: 4, Lease: lease, RepairInterval: 500 * time.Millisecond})
	for range 3 {
		f.worker("")
	}
	l := submit(t, url, loadSpec{submitters: 3, sessions: 12, every: 100 * time.Millisecond, payloads: []string{"300ms"}})
	r := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	const pauses, paused = 5, lease + 1500*time.Millisecond
	for range pauses {
		time.Sleep(2 * time.Second)
		f.mu.Lock()
		w := f.workers[r.IntN(len(f.workers))]
		f.mu.Unlock()
		w.Signal(t, syscall.SIGSTOP)
		time.Sleep(paused)
		w.Signal(t, syscall.SIGCONT)
	}
	time.Sleep(3 * time.Second)
	l.stop()
	states, _ := settle(t, rdb, f.watch, l.acked(), settleWithin)
	report(t, "paused-worker", f, l, states, fmt.Sprintf("pauses=%d paused=%s lease=%s", pauses, paused, lease))
}

// 50,000 short jobs over 5,000 sessions through two workers, with a
// retention of 30 s; once retention has passed, what is left in Redis per
// finished job: used_memory over the baseline taken before the first
// submit, DBSIZE, and the keys by family. Per-job keys (sq:ji:*,
// sq:{S}:j:*) of jobs past retention must be gone.
func TestSoak(t *testing.T) {
	scenario(t)
	const (
		total     = 50000
		sessions  = 5000
		retention = 30 * time.Second
	)
	srv := redistest.Spawn(t, redistest.SpawnOptions{})
	rdb := srv.Client(t)
	ctx := context.Background()
	f := newFleet(t, srv.URL(), WorkerOptions{Concurrency: 10, Retention: retention, RepairInterval: 500 * time.Millisecond})
	for range 2 {
		f.worker("")
	}
	before := usedMemory(t, rdb)

	l := &load{cancel: func() {}}
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	begin := time.Now()
	for range 8 {
		c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
		require.NoError(t, err)
		wg.Go(func() {
			for {
				next.Lock()
				n := i
				i++
				next.Unlock()
				if n >= total {
					return
				}
				s := fmt.Sprintf("soak-%d", n%sessions)
				sub, err := c.Submit(ctx, "chaos", nil, jobs.Session(s))
				l.mu.Lock()
				if err != nil {
					l.errs++
					l.lastErr = err
				} else {
					l.acks = append(l.acks, Ack{ID: sub.ID, Session: s, Seq: sub.Seq, At: time.Now()})
				}
				l.mu.Unlock()
			}
		})
	}
	wg.Wait()
	submitted := time.Since(begin)
	states, retired := settle(t, rdb, f.watch, l.acked(), 20*time.Minute)
	finished := time.Since(begin)
	// Retention runs from each job's end; asynq's janitor and the ledger
	// clean up on their own schedule after it.
	time.Sleep(retention + 20*time.Second)
	after := usedMemory(t, rdb)
	dbsize, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	fams := keyFamilies(t, rdb)
	var names []string
	for k := range fams {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s=%d", k, fams[k]))
	}
	perJob := float64(after-before) / total
	report(t, "soak", f, l, states, fmt.Sprintf("sessions=%d retention=%s submit=%s drain=%s retired_before_read=%d used_memory_before=%d after=%d bytes_left_per_job=%.0f dbsize=%d keys[%s]",
		sessions, retention, submitted.Round(time.Second), finished.Round(time.Second), retired, before, after, perJob, dbsize, strings.Join(parts, " ")))
	require.Zero(t, fams["sq:ji:*"]+fams["sq:{*}:j:*"], "per-job keys left after retention")
}

// usedMemory is INFO memory's used_memory, in bytes.
func usedMemory(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	require.NoError(t, err)
	for _, ln := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(ln), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no used_memory in INFO memory")
	return 0
}

// keyFamilies counts the keys of the database by family (SCAN).
func keyFamilies(t *testing.T, rdb redis.UniversalClient) map[string]int {
	t.Helper()
	out := map[string]int{}
	it := rdb.Scan(context.Background(), 0, "*", 1000).Iterator()
	for it.Next(context.Background()) {
		out[family(it.Val())]++
	}
	require.NoError(t, it.Err())
	return out
}

func family(k string) string {
	switch {
	case strings.HasPrefix(k, "sq:ji:"):
		return "sq:ji:*"
	case strings.HasPrefix(k, "sq:{"):
		i := strings.Index(k, "}:")
		if i < 0 {
			return "sq:other"
		}
		rest := k[i+2:]
		if j := strings.IndexByte(rest, ':'); j >= 0 {
			return "sq:{*}:" + rest[:j+1] + "*"
		}
		return "sq:{*}:" + rest
	case strings.HasPrefix(k, "sq:"):
		return "sq:other"
	case strings.HasPrefix(k, "asynq:"):
		if strings.Contains(k, "}:t:") {
			return "asynq:{*}:t:*"
		}
		return "asynq:other"
	}
	return "other"
}

// aliveOn returns the runs alive on the worker with pid w.
func aliveOn(t *testing.T, w *Watcher, pid int) []Run {
	t.Helper()
	runs, err := w.Runs()
	require.NoError(t, err)
	var out []Run
	for _, r := range runs {
		if r.Worker == pid && r.End.IsZero() {
			out = append(out, r)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
