package worker

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/startstop"
)

// queueWatch keeps track of which of the worker's queues asynq has paused
// (jobs.Client.PauseQueue), so that a slot never runs the next job of a
// session inline out of a paused queue: such a job goes through its queue
// instead, where asynq holds it until the queue is resumed. It looks at
// once when a pause or resume is announced (keys.QueueEvents, published by
// jobs.Client), and every interval in case one was made without (asynq's
// own tools); until its first look, every queue counts as open.
type queueWatch struct {
	startstop.Base
	rdb      redis.UniversalClient
	log      *slog.Logger
	queues   []string
	interval time.Duration
	open     atomic.Pointer[string] // ",q1,q2," of the queues not paused
}

func newQueueWatch(rdb redis.UniversalClient, queues []string, interval time.Duration, log *slog.Logger) *queueWatch {
	q := &queueWatch{rdb: rdb, log: log, queues: queues, interval: interval}
	all := "," + strings.Join(queues, ",") + ","
	q.open.Store(&all)
	return q
}

// openQueues is ",q1,q2," of the queues not paused, as the ledger's finish
// takes them.
func (q *queueWatch) openQueues() string { return *q.open.Load() }

// pausedKey is asynq's marker of a paused queue.
func pausedKey(queue string) string { return "asynq:{" + queue + "}:paused" }

func (q *queueWatch) look(ctx context.Context) {
	p := q.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(q.queues))
	for i, name := range q.queues {
		cmds[i] = p.Exists(ctx, pausedKey(name))
	}
	if _, err := p.Exec(ctx); err != nil {
		q.log.Debug("looking at queue pauses", "err", err)
		return // keep what was known
	}
	var b strings.Builder
	b.WriteByte(',')
	for i, name := range q.queues {
		if cmds[i].Val() == 0 {
			b.WriteString(name)
			b.WriteByte(',')
		}
	}
	s := b.String()
	q.open.Store(&s)
}

// Start looks in the background until Stop or ctx ends.
func (q *queueWatch) Start(ctx context.Context) error {
	return q.StartWith(ctx, func(ctx context.Context) (func(), error) {
		ps := q.rdb.Subscribe(ctx, keys.QueueEvents)
		return func() {
			defer ps.Close()
			events := ps.Channel()
			t := time.NewTicker(q.interval)
			defer t.Stop()
			for {
				lctx, cancel := context.WithTimeout(ctx, max(q.interval, time.Second))
				q.look(lctx)
				cancel()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				case <-events:
				}
			}
		}, nil
	})
}

// Stop ends the watch; safe twice and before Start.
func (q *queueWatch) Stop() { q.Base.Stop() }
