package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/presence"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/internal/startstop"
	"github.com/sessionq/sessionq/scheduler"
)

// Every background component of a worker has the one lifecycle
// (startstop): Stop before Start returns at once and refuses a later
// Start, Stop twice is safe, and a started one stops when Start's ctx ends.
func TestLifecycleOfEveryComponent(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	log := slog.New(slog.DiscardHandler)
	components := map[string]func(t *testing.T) startstop.Service{
		"Worker": func(t *testing.T) startstop.Service {
			w, err := New(rdb, Config{Queues: []string{"lifecycle"}, ShutdownGrace: 100 * time.Millisecond,
				Maintenance: scheduler.Config{Name: "lifecycle-test"}, Logger: log})
			require.NoError(t, err)
			require.NoError(t, w.HandleFunc("lifecycle-noop", func(context.Context, *Job) error { return nil }))
			return w
		},
		"scheduler.Scheduler": func(t *testing.T) startstop.Service {
			s, err := scheduler.New(rdb, scheduler.Config{Name: "lifecycle-test-s", Logger: log})
			require.NoError(t, err)
			return s
		},
		"presence.Publisher": func(t *testing.T) startstop.Service {
			p, err := presence.NewPublisher(rdb, "lifecycle-w", []string{"lifecycle-t"}, presence.Config{Logger: log})
			require.NoError(t, err)
			return p
		},
		"tidier":     func(*testing.T) startstop.Service { return newTidier(rdb, log) },
		"queueWatch": func(*testing.T) startstop.Service { return newQueueWatch(rdb, []string{"lifecycle"}, time.Second, log) },
	}
	within := func(t *testing.T, what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not return within 5s", what)
		}
	}
	for name, make := range components {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := make(t)
			within(t, "Stop before Start", s.Stop)
			within(t, "a second Stop", s.Stop)
			require.ErrorIs(t, s.Start(t.Context()), startstop.ErrStopped, "Start after Stop")

			s = make(t)
			ctx, cancel := context.WithCancel(t.Context())
			require.NoError(t, s.Start(ctx))
			require.ErrorIs(t, s.Start(ctx), startstop.ErrStarted, "a second Start")
			cancel()
			stopped := s.(interface{ Stopped() <-chan struct{} }).Stopped()
			within(t, "stopping when Start's ctx ends", func() { <-stopped })
			within(t, "Stop after the ctx ended", s.Stop)
			within(t, "a second Stop", s.Stop)
		})
	}
}
