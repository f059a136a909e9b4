package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
)

// EnvChaos names the environment variable that turns the scenarios on
// (make chaos sets it to 1). They are long and load the machine, so
// `make test` skips them.
const EnvChaos = "SESSIONQ_CHAOS"

func scenario(t *testing.T) {
	t.Helper()
	if os.Getenv(EnvChaos) != "1" {
		t.Skipf("fault-injection scenario: run it with make chaos (%s=1)", EnvChaos)
	}
}

// fleet is a set of worker processes on one Redis, the jobrec log they
// write, and a Watcher on it.
type fleet struct {
	t       *testing.T
	url     string // redis:// URL of the database, for workers
	opts    WorkerOptions
	log     string
	watch   *Watcher
	mu      sync.Mutex
	workers []*Proc
	n       int
}

func newFleet(t *testing.T, url string, opts WorkerOptions) *fleet {
	log := filepath.Join(t.TempDir(), "runs.log")
	opts.Exec = Jobrec(t, "chaos", log)
	f := &fleet{t: t, url: url, opts: opts, log: log, watch: Watch(log, 0)}
	t.Cleanup(func() { _, _ = f.watch.Stop() })
	return f
}

// worker starts a worker on the fleet's Redis, or on url when given (a
// proxy), and waits until it runs.
func (f *fleet) worker(url string) *Proc {
	f.t.Helper()
	if url == "" {
		url = f.url
	}
	args := WorkerArgs(url, f.opts)
	f.mu.Lock()
	f.n++
	name := fmt.Sprintf("worker-%d", f.n)
	f.mu.Unlock()
	p := Start(f.t, name, Binary(f.t, "github.com/sessionq/sessionq/cmd/sessionq", false), nil, args...)
	p.Ready(f.t, "worker started", 30*time.Second)
	f.mu.Lock()
	f.workers = append(f.workers, p)
	f.mu.Unlock()
	return p
}

// replace kill -9s the i-th live worker and starts a new one in its place.
func (f *fleet) replace(i int) {
	f.t.Helper()
	f.mu.Lock()
	p := f.workers[i]
	f.workers = append(f.workers[:i:i], f.workers[i+1:]...)
	f.mu.Unlock()
	p.Kill9(f.t)
	f.t.Logf("kill -9 %s (pid %d) at %s", p.Name, p.Pid(), time.Now().Format("15:04:05.000"))
	f.worker("")
}

// load is a set of submitters, each a jobs.Client of its own on its own
// Redis connection, submitting session jobs until stopped.
type load struct {
	mu      sync.Mutex
	acks    []Ack
	errs    int
	lastErr error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type loadSpec struct {
	submitters int
	sessions   int           // session IDs chaos-0 .. chaos-(n-1)
	every      time.Duration // pause between two submits of one submitter
	payloads   []string      // jobrec sleeps, e.g. "100ms", one picked at random per job
}

// submit starts the submitters on the Redis at url.
func submit(t *testing.T, url string, spec loadSpec) *load {
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	for i := range spec.submitters {
		rdb := redis.NewClient(opts)
		c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
		require.NoError(t, err)
		l.wg.Go(func() {
			defer rdb.Close()
			r := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			tick := time.NewTicker(spec.every)
			defer tick.Stop()
			for {
				s := fmt.Sprintf("chaos-%d", r.IntN(spec.sessions))
				sctx, c2 := context.WithTimeout(ctx, 5*time.Second)
				payload := spec.payloads[r.IntN(len(spec.payloads))]
				sub, err := c.Submit(sctx, "chaos", []byte(payload), jobs.Session(s), jobs.MaxRetry(25))
				c2()
				l.mu.Lock()
				if err == nil {
					l.acks = append(l.acks, Ack{ID: sub.ID, Session: s, Seq: sub.Seq, At: time.Now()})
				} else if ctx.Err() == nil {
					l.errs++
					l.lastErr = err
				}
				l.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

// stop stops the submitters and waits for them.
func (l *load) stop() { l.cancel(); l.wg.Wait() }

func (l *load) acked() []Ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Ack(nil), l.acks...)
}

// settle waits until every acknowledged job has ended, or within passes, and
// returns the final states (what sessionq says) of the acknowledged jobs.
// It first waits on the jobs' own records (cheap), then asks sessionq. A
// job that sessionq no longer knows (its record outlived its retention, as
// in the soak) but whose command ran to its end counts as succeeded; retired
// counts those.
func settle(t *testing.T, rdb redis.UniversalClient, w *Watcher, acks []Ack, within time.Duration) (states map[string]jobs.State, retired int) {
	t.Helper()
	deadline := time.Now().Add(within)
	completed := map[string]bool{}
	for time.Now().Before(deadline) {
		runs, err := w.Runs()
		require.NoError(t, err)
		for _, r := range runs {
			if r.Completed {
				completed[r.Job] = true
			}
		}
		left := 0
		for _, a := range acks {
			if !completed[a.ID] {
				left++
			}
		}
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	states = map[string]jobs.State{}
	var mu sync.Mutex
	for {
		var todo []string
		for _, a := range acks {
			if !states[a.ID].Terminal() {
				todo = append(todo, a.ID)
			}
		}
		var wg sync.WaitGroup
		ch := make(chan string)
		for range 8 {
			wg.Go(func() {
				for id := range ch {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					in, err := c.Get(ctx, id)
					cancel()
					mu.Lock()
					switch {
					case err == nil:
						states[id] = in.State
					case errors.Is(err, jobs.ErrNotFound) && completed[id]:
						states[id] = jobs.StateSucceeded
						retired++
					}
					mu.Unlock()
				}
			})
		}
		for _, id := range todo {
			ch <- id
		}
		close(ch)
		wg.Wait()
		pending := 0
		for _, id := range todo {
			if !states[id].Terminal() {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			return states, retired
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// report judges the run, prints the scenario's one line and fails the test
// if an invariant broke.
func report(t *testing.T, name string, f *fleet, l *load, states map[string]jobs.State, extra string) Figures {
	t.Helper()
	runs, err := f.watch.Stop()
	require.NoError(t, err)
	acks := l.acked()
	fig := Check(acks, runs, states, time.Now())
	l.mu.Lock()
	errs, lastErr := l.errs, l.lastErr
	l.mu.Unlock()
	if lastErr != nil {
		t.Logf("%d submits failed, the last with: %v", errs, lastErr)
	}
	line := fmt.Sprintf("chaos %-19s %s submit_errors=%d", name, fig, errs)
	if extra != "" {
		line += " " + extra
	}
	fmt.Println(line)
	if fig.StuckSession != "" {
		// What the session did around its longest stall, to tell a repair
		// from a retry backoff.
		t.Logf("longest stuck: session %s, %s from %s", fig.StuckSession, fig.MaxStuck.Round(time.Millisecond), fig.StuckFrom.Format("15:04:05.000"))
		lo, hi := fig.StuckFrom.Add(-3*time.Second), fig.StuckFrom.Add(fig.MaxStuck+time.Second)
		for _, r := range runs {
			if r.Session == fig.StuckSession && r.End.After(lo) && r.Start.Before(hi) {
				t.Logf("  run job=%s seq=%d attempt=%d worker=%d %s..%s completed=%v", r.Job, r.Seq, r.Attempt, r.Worker,
					r.Start.Format("15:04:05.000"), r.End.Format("15:04:05.000"), r.Completed)
			}
		}
	}
	if !fig.OK() {
		t.Errorf("invariants broken: %s", strings.TrimPrefix(line, "chaos "))
	}
	return fig
}
