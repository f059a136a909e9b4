package sessiontable

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessionq/sessionq/internal/keys"
)

// HotSession is a session whose backlog passed Config.HotBacklog lately.
// Every job of one session runs on one worker slot at a time, so a session
// ID shared by much work (a fixed session ID on every job, the anti-pattern
// of the document-composition seed) serializes all of it.
type HotSession struct {
	ID      string    `json:"id"`
	Backlog int64     `json:"backlog"` // unfinished jobs when last reported
	Seen    time.Time `json:"seen"`    // when it was last reported
}

// noteBacklog reports session id as hot when backlog reaches the threshold:
// a warning in the log at most once per HotInterval across every worker,
// and an entry in keys.Hot that HotSessions reads. Detection is best effort:
// a Redis error here never fails the job.
func (t *Table) noteBacklog(ctx context.Context, id string, backlog int64) {
	if t.cfg.HotBacklog < 0 || backlog < int64(t.cfg.HotBacklog) {
		return
	}
	if !t.hot.due(id, time.Now()) {
		return // this process asked about id less than a second ago
	}
	warn, err := hotScript.Run(ctx, t.rdb, []string{keys.Hot}, id, backlog, t.cfg.HotInterval.Milliseconds()).Int()
	if err != nil {
		t.log.Debug("noting a hot session", "session", id, "err", err)
		return
	}
	if warn == 1 {
		t.log.Warn("hot session: one session holds a large backlog, and its jobs run one at a time on one slot; spread the work over more session IDs",
			"session", id, "backlog", backlog, "threshold", t.cfg.HotBacklog)
	}
}

// HotSessions returns the sessions reported hot within the last two
// HotIntervals, largest backlog first, and forgets older reports.
func (t *Table) HotSessions(ctx context.Context) ([]HotSession, error) {
	now, err := t.rdb.Time(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("reading hot sessions: %w", err)
	}
	m, err := t.rdb.HGetAll(ctx, keys.Hot).Result()
	if err != nil {
		return nil, fmt.Errorf("reading hot sessions: %w", err)
	}
	out := []HotSession{}
	var stale []string
	for id, v := range m {
		ms, n, _ := strings.Cut(v, " ")
		at, _ := strconv.ParseInt(ms, 10, 64)
		backlog, _ := strconv.ParseInt(n, 10, 64)
		seen := time.UnixMilli(at)
		if now.Sub(seen) > 2*t.cfg.HotInterval {
			stale = append(stale, id)
			continue
		}
		out = append(out, HotSession{ID: id, Backlog: backlog, Seen: seen})
	}
	if len(stale) > 0 {
		if err := t.rdb.HDel(ctx, keys.Hot, stale...).Err(); err != nil {
			return nil, fmt.Errorf("forgetting old hot sessions: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b HotSession) int {
		return cmp.Or(cmp.Compare(b.Backlog, a.Backlog), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// hotNoteEvery is how often one process asks Redis about the same hot
// session; every job of a hot session would otherwise cost a round trip.
const hotNoteEvery = time.Second

// hotThrottle remembers when this process last noted each hot session.
type hotThrottle struct {
	mu   sync.Mutex
	next map[string]time.Time
}

// due reports whether session id may be noted now, and if so, when next.
func (h *hotThrottle) due(id string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Before(h.next[id]) {
		return false
	}
	if h.next == nil || len(h.next) > 10000 {
		h.next = map[string]time.Time{} // forget old entries wholesale
	}
	h.next[id] = now.Add(hotNoteEvery)
	return true
}
