package gateway

import (
	"strconv"
	"sync"
	"time"
)

// throttle decides when a password may be checked, so that nobody can
// guess a password fast, yet nobody can lock its user out:
//
//   - Per (user name, client address) pair: rate attempts a minute, and
//     after backoffFree consecutive failures an exponential backoff (1s,
//     2s, 4s, ... up to maxBackoff) before the next attempt. A success
//     resets the pair. An attacker's failures from one address never delay
//     the same user from another address.
//   - Per client address: addrFactor*rate failures a minute, over every
//     name (an address spraying names).
//   - Globally: ceiling failures a minute over every pair (spraying from
//     many addresses). Past it, only pairs that logged in successfully in
//     the last trustedFor may try.
//
// An attempt is counted as a failure when it starts (so that concurrent
// attempts cannot slip past the backoff) and given back if it succeeds.
// Memory is bounded: entries idle past forgetAfter are dropped, and the
// ceiling bounds how fast failing pairs are added.
type throttle struct {
	mu      sync.Mutex
	now     func() time.Time
	rate    float64 // attempts per minute per pair
	addr    float64 // failures per minute per address
	ceiling float64 // failures per minute in all
	global  bucket
	entries map[string]*throttleEntry
	swept   time.Time
}

type throttleEntry struct {
	bucket
	fails   int       // consecutive failures (pairs)
	until   time.Time // no attempt before (pairs)
	trusted time.Time // a success from this pair until then
	seen    time.Time
}

// bucket is a token bucket of per tokens a minute, per at most.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) fill(now time.Time, per float64) {
	if b.at.IsZero() {
		b.tokens, b.at = per, now
		return
	}
	b.tokens = min(per, b.tokens+now.Sub(b.at).Minutes()*per)
	b.at = now
}

// Throttle parameters.
const (
	backoffFree   = 3                // failures of a pair before the backoff starts
	backoffBase   = time.Second      // the first backoff
	maxBackoff    = 15 * time.Minute // the longest
	addrFactor    = 3                // an address's failures a minute, in pair rates
	trustedFor    = 24 * time.Hour   // a successful pair passes the ceiling this long
	forgetAfter   = 30 * time.Minute // an idle, unblocked entry is dropped after this
	maxThrottleKV = 100_000          // past this many entries, entries go sooner
)

func newThrottle(perMin, ceiling int) *throttle {
	return &throttle{now: time.Now, rate: float64(perMin), addr: float64(addrFactor * perMin),
		ceiling: float64(ceiling), entries: map[string]*throttleEntry{}}
}

// backoff is the wait after fails consecutive failures.
func backoff(fails int) time.Duration {
	if fails < backoffFree {
		return 0
	}
	n := fails - backoffFree
	if n > 20 {
		return maxBackoff
	}
	return min(backoffBase<<n, maxBackoff)
}

// attempt is one password check let through; done reports its outcome.
type attempt struct {
	t          *throttle
	pair, addr string
}

// begin asks to check a password of user from client address addr. It
// answers the attempt, or how long to wait before the next one.
func (t *throttle) begin(user, addr string) (*attempt, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.sweep(now)
	pk, ak := "p:"+strconv.Quote(user)+" "+addr, "a:"+addr
	p, a := t.entries[pk], t.entries[ak]
	if p == nil {
		p = &throttleEntry{}
	}
	if a == nil {
		a = &throttleEntry{}
	}
	p.fill(now, t.rate)
	a.fill(now, t.addr)
	t.global.fill(now, t.ceiling)
	trusted := now.Before(p.trusted)
	var wait time.Duration
	switch {
	case now.Before(p.until):
		wait = p.until.Sub(now)
	case p.tokens < 1:
		wait = minutes((1 - p.tokens) / t.rate)
	case a.tokens < 1 && !trusted:
		wait = minutes((1 - a.tokens) / t.addr)
	case t.global.tokens < 1 && !trusted:
		wait = minutes((1 - t.global.tokens) / t.ceiling)
	}
	if wait > 0 {
		return nil, max(wait, time.Second)
	}
	// Counted as a failure until it succeeds.
	p.tokens--
	a.tokens--
	t.global.tokens--
	p.fails++
	p.until = now.Add(backoff(p.fails))
	p.seen, a.seen = now, now
	t.entries[pk], t.entries[ak] = p, a
	return &attempt{t: t, pair: pk, addr: ak}, 0
}

func minutes(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }

// done records the outcome of the attempt: a success gives back what
// begin took as a failure, and resets the pair's backoff.
func (at *attempt) done(ok bool) {
	if !ok {
		return
	}
	t := at.t
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.global.tokens = min(t.ceiling, t.global.tokens+1)
	if a := t.entries[at.addr]; a != nil {
		a.tokens = min(t.addr, a.tokens+1)
	}
	if p := t.entries[at.pair]; p != nil {
		p.fails, p.until, p.trusted = 0, time.Time{}, now.Add(trustedFor)
	}
}

// sweep drops entries that hold nothing worth keeping: idle for
// forgetAfter, not blocked, not trusted. It runs once a minute, or once a
// second while there are more than maxThrottleKV entries; then idle ones
// go after 2 minutes, and if that is not enough, unblocked ones at random
// down to 90% of the cap.
func (t *throttle) sweep(now time.Time) {
	full := len(t.entries) > maxThrottleKV
	if since := now.Sub(t.swept); since < time.Minute && !(full && since >= time.Second) {
		return
	}
	t.swept = now
	idle := forgetAfter
	if full {
		idle = 2 * time.Minute
	}
	for k, e := range t.entries {
		keep := now.Before(e.until) || now.Before(e.trusted) && !full
		if !keep && now.Sub(e.seen) > idle {
			delete(t.entries, k)
		}
	}
	for k, e := range t.entries {
		if len(t.entries) <= maxThrottleKV*9/10 {
			break
		}
		if !now.Before(e.until) {
			delete(t.entries, k)
		}
	}
}
