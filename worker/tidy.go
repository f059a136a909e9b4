package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/startstop"
)

// tidier sends, off the jobs' path and in batches, what follows the end of
// a session job (ledger.Ended): its ID index expires with its record. A batch goes every tidyEvery,
// or when tidyBatch are waiting; Stop sends what is left.
type tidier struct {
	startstop.Base
	rdb redis.UniversalClient
	log *slog.Logger

	mu    sync.Mutex
	batch []ended
	kick  chan struct{}
}

type ended struct {
	id        string
	retention time.Duration
}

const (
	tidyEvery = 100 * time.Millisecond
	tidyBatch = 512
)

func newTidier(rdb redis.UniversalClient, log *slog.Logger) *tidier {
	return &tidier{rdb: rdb, log: log, kick: make(chan struct{}, 1)}
}

// Start sends batches in the background until Stop or ctx ends.
func (t *tidier) Start(ctx context.Context) error {
	return t.StartWith(ctx, func(ctx context.Context) (func(), error) {
		return func() { t.loop(ctx) }, nil
	})
}

// Stop sends what is left and ends the loop; safe twice and before Start.
func (t *tidier) Stop() {
	t.Base.Stop()
	t.flush()
}

func (t *tidier) ended(id string, retention time.Duration) {
	t.mu.Lock()
	t.batch = append(t.batch, ended{id, retention})
	full := len(t.batch) >= tidyBatch
	t.mu.Unlock()
	if full {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

func (t *tidier) loop(ctx context.Context) {
	tick := time.NewTicker(tidyEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.flush()
			return
		case <-tick.C:
		case <-t.kick:
		}
		t.flush()
	}
}

func (t *tidier) flush() {
	t.mu.Lock()
	b := t.batch
	t.batch = nil
	t.mu.Unlock()
	if len(b) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := t.rdb.Pipeline()
	for _, e := range b {
		ledger.Ended(ctx, p, e.id, e.retention)
	}
	if _, err := p.Exec(ctx); err != nil {
		// The indexes expire by themselves, later.
		t.log.Warn("tidying after finished jobs", "jobs", len(b), "err", err)
	}
}
