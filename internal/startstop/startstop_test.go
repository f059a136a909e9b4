package startstop_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionq/sessionq/internal/startstop"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ticker is a small service: it counts until stopped, then records why.
type ticker struct {
	startstop.Base
	cleaned atomic.Int32
	cause   atomic.Value
	fail    error
}

func (s *ticker) Start(ctx context.Context) error {
	return s.StartWith(ctx, func(ctx context.Context) (func(), error) {
		if s.fail != nil {
			return nil, s.fail
		}
		return func() {
			<-ctx.Done()
			s.cause.Store(context.Cause(ctx))
			s.cleaned.Add(1)
		}, nil
	})
}

var _ startstop.Service = (*ticker)(nil)

// returnsWithin fails t unless f returns within d.
func returnsWithin(t *testing.T, d time.Duration, f func(), what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	s := &ticker{}
	require.NoError(t, s.Start(context.Background()))
	<-s.Started()
	require.ErrorIs(t, s.Start(context.Background()), startstop.ErrStarted)
	select {
	case <-s.Stopped():
		t.Fatal("stopped before Stop")
	default:
	}
	returnsWithin(t, time.Second, s.Stop, "Stop")
	<-s.Stopped()
	require.EqualValues(t, 1, s.cleaned.Load(), "the run function cleaned up once")
	require.ErrorIs(t, s.cause.Load().(error), startstop.ErrStop)
	returnsWithin(t, time.Second, s.Stop, "a second Stop")
	require.ErrorIs(t, s.Start(context.Background()), startstop.ErrStopped)
}

func TestStopBeforeStart(t *testing.T) {
	t.Parallel()
	s := &ticker{}
	returnsWithin(t, time.Second, s.Stop, "Stop before Start")
	returnsWithin(t, time.Second, s.Stop, "a second Stop")
	<-s.Started()
	<-s.Stopped()
	require.ErrorIs(t, s.Start(context.Background()), startstop.ErrStopped)
	require.Zero(t, s.cleaned.Load(), "nothing ran")
}

func TestStartHonoursCtx(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s := &ticker{}
	require.NoError(t, s.Start(ctx))
	cancel()
	select {
	case <-s.Stopped():
	case <-time.After(time.Second):
		t.Fatal("the end of Start's ctx did not stop the service")
	}
	require.ErrorIs(t, s.cause.Load().(error), context.Canceled)
	returnsWithin(t, time.Second, s.Stop, "Stop after the ctx ended")
	require.ErrorIs(t, s.Start(context.Background()), startstop.ErrStopped)

	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	require.ErrorIs(t, (&ticker{}).Start(done), context.Canceled, "a ctx already done is refused")
}

func TestFailedStartMayBeRetried(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	s := &ticker{fail: boom}
	require.ErrorIs(t, s.Start(context.Background()), boom)
	select {
	case <-s.Started():
		t.Fatal("started after a failed start")
	default:
	}
	s.fail = nil
	require.NoError(t, s.Start(context.Background()))
	s.Stop()
	require.EqualValues(t, 1, s.cleaned.Load())
}

func TestConcurrentStops(t *testing.T) {
	t.Parallel()
	s := &ticker{}
	require.NoError(t, s.Start(context.Background()))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(s.Stop)
	}
	returnsWithin(t, time.Second, wg.Wait, "concurrent Stops")
	require.EqualValues(t, 1, s.cleaned.Load())
}

func TestStopAll(t *testing.T) {
	t.Parallel()
	a, b, c := &ticker{}, &ticker{}, &ticker{}
	require.NoError(t, a.Start(context.Background()))
	require.NoError(t, b.Start(context.Background()))
	returnsWithin(t, time.Second, func() { startstop.StopAll(a, b, c) }, "StopAll")
	require.EqualValues(t, 1, a.cleaned.Load())
	require.EqualValues(t, 1, b.cleaned.Load())
	require.Zero(t, c.cleaned.Load())
}
