package worker

import (
	"context"
	"sync"
	"time"

	"github.com/sessionq/sessionq/internal/ledger"
)

// leaseMargin is how long before its lease could run out anywhere a run
// that could not renew is stopped: time to kill its command and for clocks
// that run at slightly different rates. A fifth of the lease.
func leaseMargin(lease time.Duration) time.Duration { return lease / 5 }

// renew keeps the lease of rj while its handler runs, and stops the run
// before the lease could run out.
//
// A renewal is tried every Lease/3, and again after Lease/12 when one
// fails. The lease is surely this worker's until the send time of the last
// renewal that succeeded (first: of the acquire) plus the lease: Redis set
// its expiry after it received the request. A watchdog cancels the run with
// ErrLeaseLost at that time less leaseMargin, whether or not a renewal is
// still hanging on a dead connection, so that the command is killed before
// the lease can be taken over. The run is also cancelled with ErrLeaseLost
// when a renewal is refused, and with ErrCancelled when the job was asked
// to cancel.
//
// Renewal runs on timers, not a goroutine of its own, so a job shorter than
// a third of the lease costs no renewal at all. stop waits for a renewal
// under way.
func (w *Worker) renew(ctx context.Context, rj *ledger.RunJob, cancel context.CancelCauseFunc) (stop func()) {
	lease := w.cfg.Lease
	every, retry := lease/3, lease/12
	var (
		mu       sync.Mutex
		pending  sync.WaitGroup // a scheduled or running renewal
		stopped  bool
		timer    *time.Timer
		watchdog *time.Timer
		lastSent = rj.Sent
	)
	if lastSent.IsZero() {
		lastSent = time.Now()
	}
	deadline := func() time.Time { return lastSent.Add(lease - leaseMargin(lease)) }
	watchdog = time.AfterFunc(time.Until(deadline()), func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		w.m.renewFailed.Inc()
		w.log.Error("session lease not renewed in time: stopping the job before the lease can run out",
			"job", rj.ID, "session", rj.Session, "last_renewal_sent", lastSent)
		cancel(ErrLeaseLost)
	})
	fire := func() {
		defer pending.Done()
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		sent := time.Now()
		d := time.Until(deadline())
		mu.Unlock()
		if d <= 0 {
			return // the watchdog stops the run
		}
		rctx, c := context.WithTimeout(context.WithoutCancel(ctx), min(every, d))
		r, err := w.led.Renew(rctx, rj.Session, rj.ID, rj.Token, lease)
		c()
		next := every
		switch {
		case err == nil && r == ledger.CancelRequested:
			cancel(ErrCancelled)
			return
		case err == nil && r == ledger.LeaseRenewed:
			mu.Lock()
			lastSent = sent
			watchdog.Reset(time.Until(deadline()))
			mu.Unlock()
		case err == nil:
			cancel(ErrLeaseLost)
			return
		default:
			w.log.Warn("renewing session lease", "job", rj.ID, "session", rj.Session, "err", err)
			next = retry
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			pending.Add(1)
			timer.Reset(next)
		}
	}
	mu.Lock()
	pending.Add(1)
	timer = time.AfterFunc(every, fire)
	mu.Unlock()
	return func() {
		mu.Lock()
		if !stopped {
			stopped = true
			watchdog.Stop()
			if timer.Stop() {
				pending.Done() // the scheduled renewal will not run
			}
		}
		mu.Unlock()
		pending.Wait()
	}
}
