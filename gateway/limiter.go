package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter rate-limits password checks per key (a user name, a client
// address). It forgets keys idle for a while, so that a flood of names
// cannot grow it without bound.
type limiter struct {
	mu      sync.Mutex
	perMin  int
	entries map[string]*limitEntry
	swept   time.Time
}

type limitEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxLimitKeys caps the keys kept; past it, idle ones are dropped first.
const maxLimitKeys = 100_000

func newLimiter(perMin int) *limiter {
	return &limiter{perMin: perMin, entries: map[string]*limitEntry{}}
}

// allow reports whether one more attempt may be made now for every key.
func (l *limiter) allow(keys ...string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.entries) > maxLimitKeys {
		for k, e := range l.entries {
			if now.Sub(e.seen) > 2*time.Minute {
				delete(l.entries, k)
			}
		}
		l.swept = now
	}
	ok := true
	for _, k := range keys {
		e := l.entries[k]
		if e == nil {
			e = &limitEntry{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMin)), l.perMin)}
			l.entries[k] = e
		}
		e.seen = now
		if !e.lim.AllowN(now, 1) {
			ok = false
		}
	}
	return ok
}
