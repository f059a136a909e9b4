// Package startstop is the one lifecycle of sessionq's background
// components, after river's startstop: a component embeds Base, writes its
// Start as a call to StartWith, and gets a Stop that is safe to call twice,
// concurrently, and before Start.
//
// A component is started once and stopped once: Start after Stop, or a
// second Start, is an error (ErrStopped, ErrStarted). Its background work
// runs under a context that Stop cancels (with the cause ErrStop) and that
// ends with the context given to Start, so Start honours its ctx: when ctx
// ends, the component stops as by Stop. Stop returns once the background
// work has returned.
//
//	type Service struct{ startstop.Base }
//
//	func (s *Service) Start(ctx context.Context) error {
//		return s.StartWith(ctx, func(ctx context.Context) (func(), error) {
//			if err := setUp(ctx); err != nil {
//				return nil, err // not started; Start may be called again
//			}
//			return func() {
//				for { select { case <-ctx.Done(): cleanUp(); return; ... } }
//			}, nil
//		})
//	}
package startstop

import (
	"context"
	"errors"
	"sync"
)

var (
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("startstop: started twice")
	// ErrStopped is returned by a Start after Stop (or after the component
	// stopped because its context ended).
	ErrStopped = errors.New("startstop: start after stop")
	// ErrStop is the cause of the cancellation of a component's context by
	// Stop (context.Cause), as against the end of Start's ctx.
	ErrStop = errors.New("startstop: stopped")
)

// Service is a background component: Start returns once the component runs
// (or with the error that kept it from running); Stop returns once it has
// stopped, and is safe to call twice, concurrently, and before Start.
type Service interface {
	Start(ctx context.Context) error
	Stop()
}

// Base is embedded in a Service to give it its lifecycle. Its zero value is
// ready: not started.
type Base struct {
	mu      sync.Mutex
	state   state
	cancel  context.CancelCauseFunc
	started chan struct{} // closed when started, or when stopped first
	stopped chan struct{} // closed when the run function has returned
}

type state int

const (
	idle state = iota
	running
	stopped
)

// init makes the channels; b.mu is held.
func (b *Base) init() {
	if b.started == nil {
		b.started = make(chan struct{})
		b.stopped = make(chan struct{})
	}
}

// StartWith starts the component: it calls start with the component's
// context (cancelled by Stop, ended with ctx) and, when start succeeds,
// runs the function start returned in a goroutine of its own. That
// function is the component's background work: it returns once the
// context is done and it has cleaned up (a run that returns earlier stops
// the component). It must not call Stop.
//
// StartWith refuses a second start (ErrStarted), a start after Stop
// (ErrStopped) and a ctx already done (its error), and returns start's
// error as is; after an error of start the component is not started and
// may be started again. A Stop that comes while start runs waits for it.
func (b *Base) StartWith(ctx context.Context, start func(ctx context.Context) (run func(), err error)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	switch b.state {
	case running:
		select {
		case <-b.stopped:
			return ErrStopped
		default:
			return ErrStarted
		}
	case stopped:
		return ErrStopped
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	run, err := start(sctx)
	if err != nil {
		cancel(err)
		return err
	}
	b.state, b.cancel = running, cancel
	close(b.started)
	go func() {
		defer close(b.stopped)
		defer cancel(ErrStop)
		run()
	}()
	return nil
}

// Stop stops the component: it cancels the component's context with the
// cause ErrStop and returns once its background work has returned. Before
// Start it only marks the component stopped, so that a later Start is
// refused. It is safe to call twice and concurrently.
func (b *Base) Stop() {
	b.mu.Lock()
	b.init()
	switch b.state {
	case idle:
		b.state = stopped
		close(b.started)
		close(b.stopped)
	case running:
		b.cancel(ErrStop)
	}
	done := b.stopped
	b.mu.Unlock()
	<-done
}

// Started is closed once Start has succeeded, or once Stop came first, so
// that a wait on it always ends; select on Stopped to tell them apart.
func (b *Base) Started() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	return b.started
}

// Stopped is closed once the component has stopped: its background work
// has returned, after Stop or the end of Start's ctx, or Stop came before
// Start.
func (b *Base) Stopped() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	return b.stopped
}

// StopAll stops services in parallel and returns when all have stopped.
func StopAll(services ...Service) {
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(s.Stop)
	}
	wg.Wait()
}
