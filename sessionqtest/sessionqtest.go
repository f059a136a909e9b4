// Package sessionqtest holds the helpers that sessionq's tests share, as
// rivertest does for river: waiting for a condition with a deadline
// (Eventually), a worker with short timings stopped when the test ends
// (StartWorker), and waiting for a job's state (WaitState).
//
// Only tests import it (a test of this package checks that no other file
// does). It imports worker, so a test in package worker itself, or in a
// package the worker stands on, cannot use StartWorker: such tests are in
// their package's _test package, or use Eventually from an external one.
package sessionqtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// Poll is the time between two looks of Eventually.
const Poll = 5 * time.Millisecond

// Quiet is a logger that drops everything: the default logger of
// WorkerConfig.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Eventually polls cond every Poll until it holds, or fails t after within
// with msg, formatted with args as by fmt.Sprintf.
func Eventually(t testing.TB, within time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", within, fmt.Sprintf(msg, args...))
		}
		<-tick.C
	}
}

// WorkerConfig is cfg with short timings for tests where cfg leaves them
// zero: Lease 1s, ShutdownGrace 1s, PollInterval 5ms, DelayedCheckInterval
// 100ms, a retry after 10ms, the maintenance every 50ms with a dispatch
// grace of 200ms, and Quiet logs.
func WorkerConfig(cfg worker.Config) worker.Config {
	if cfg.Lease == 0 {
		cfg.Lease = time.Second
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	if cfg.DelayedCheckInterval == 0 {
		cfg.DelayedCheckInterval = 100 * time.Millisecond
	}
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = func(int, error) time.Duration { return 10 * time.Millisecond }
	}
	if cfg.Logger == nil {
		cfg.Logger = Quiet
	}
	if cfg.Maintenance.Interval == 0 {
		cfg.Maintenance.Interval = 50 * time.Millisecond
	}
	if cfg.Maintenance.DispatchGrace == 0 {
		cfg.Maintenance.DispatchGrace = 200 * time.Millisecond
	}
	return cfg
}

// StartWorker starts a worker on rdb with WorkerConfig(cfg) and handlers
// (job type to handler), and stops it when the test ends.
func StartWorker[H worker.Handler](t testing.TB, rdb redis.UniversalClient, cfg worker.Config, handlers map[string]H) *worker.Worker {
	t.Helper()
	w, err := worker.New(rdb, WorkerConfig(cfg))
	if err != nil {
		t.Fatalf("sessionqtest: new worker: %v", err)
	}
	for typ, h := range handlers {
		if err := w.Handle(typ, h); err != nil {
			t.Fatalf("sessionqtest: handler of %q: %v", typ, err)
		}
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("sessionqtest: starting the worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// WaitStateWithin is how long WaitState waits.
const WaitStateWithin = 15 * time.Second

// WaitState waits until job id is in state st, and returns what c reads
// of it then; it fails t after WaitStateWithin.
func WaitState(t testing.TB, c *jobs.Client, id string, st jobs.State) *jobs.Info {
	t.Helper()
	var in *jobs.Info
	var err error
	Eventually(t, WaitStateWithin, func() bool {
		in, err = c.Get(context.Background(), id)
		return err == nil && in.State == st
	}, "job %s to be %s (last read: %v)", id, st, lazy(func() string { return fmt.Sprintf("%+v, %v", in, err) }))
	return in
}

// lazy is a message part made when it is printed.
type lazy func() string

func (l lazy) String() string { return l() }
