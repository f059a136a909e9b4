package ledger

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// BatchConfig configures the batching of a worker's ledger calls (Batched).
type BatchConfig struct {
	// MaxCalls is the most calls one pipeline carries. Default 32.
	MaxCalls int
	// MaxInFlight is the most pipelines in flight at once. A call that
	// comes while they are all in flight waits for one of them to come back
	// (one round trip at most) and goes with every other call that came
	// meanwhile. Default 2.
	MaxInFlight int
}

func (c BatchConfig) withDefaults() BatchConfig {
	if c.MaxCalls <= 0 {
		c.MaxCalls = 32
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 2
	}
	return c
}

// batcher sends the ledger calls that different goroutines (a worker's
// slots) make at about the same time to Redis in one pipeline: one round
// trip, one write and one read on each side, for all of them.
//
// It holds no call on a timer. A call that finds fewer than MaxInFlight
// pipelines in flight is sent at once, together with whatever waits; else
// it waits in the queue, and the first pipeline to come back hands its
// place to the oldest waiting call, whose goroutine sends the queue (up to
// MaxCalls) as the next pipeline. So a call waits one round trip at most
// before it is sent, and a lone call is sent as it would be without the
// batcher.
//
// Each call stays one script (its atomicity and fencing checks are the
// script's) with the index writes that ride before it, in order, in the
// same pipeline. Redis runs each command of a pipeline on its own: a call
// whose script fails (an error reply, NOSCRIPT) fails alone, and only a
// broken connection fails a whole pipeline, as it would fail each call
// sent alone.
type batcher struct {
	rdb Client
	cfg BatchConfig

	mu      sync.Mutex
	queue   []*call
	senders int // pipelines in flight, or about to be

	// batches and calls count what was sent, for tests and metrics.
	batches, calls int64
}

// call is one ledger call waiting in a batcher.
type call struct {
	add func(p redis.Pipeliner) // queues the call's commands on p
	// wake gets false when the call was sent and its commands hold their
	// replies, or true when its goroutine must send the next pipeline.
	wake chan bool
}

func newBatcher(rdb Client, cfg BatchConfig) *batcher {
	return &batcher{rdb: rdb, cfg: cfg.withDefaults()}
}

// do sends the commands add queues, in a pipeline with other calls, and
// returns once their replies are in. When ctx ends while the call still
// waits to be sent, it is not sent and do returns ctx's error; once sent,
// do waits for the replies (one round trip).
func (b *batcher) do(ctx context.Context, add func(p redis.Pipeliner)) error {
	c := &call{add: add, wake: make(chan bool, 1)}
	b.mu.Lock()
	if b.senders < b.cfg.MaxInFlight {
		b.senders++
		batch := append(b.take(b.cfg.MaxCalls-1), c)
		b.mu.Unlock()
		b.send(batch)
		b.handOver()
		return nil
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()

	var promoted bool
	select {
	case promoted = <-c.wake:
	case <-ctx.Done():
		b.mu.Lock()
		for k, q := range b.queue {
			if q == c {
				b.queue = append(b.queue[:k], b.queue[k+1:]...)
				b.mu.Unlock()
				return ctx.Err()
			}
		}
		b.mu.Unlock()
		// Already taken: sent, or handed the sender's place.
		promoted = <-c.wake
	}
	if promoted {
		b.mu.Lock()
		batch := append([]*call{c}, b.take(b.cfg.MaxCalls-1)...)
		b.mu.Unlock()
		b.send(batch)
		b.handOver()
	}
	return nil
}

// take removes up to n calls from the head of the queue. b.mu is held.
func (b *batcher) take(n int) []*call {
	n = min(n, len(b.queue))
	out := make([]*call, n, n+1)
	copy(out, b.queue[:n])
	b.queue = b.queue[n:]
	if len(b.queue) == 0 {
		b.queue = nil
	}
	return out
}

// send runs the calls in one pipeline and tells each that its replies are
// in. The sender's own call (the last, or the first when promoted) gets the
// word too, in its buffer, where nobody reads it: the sender returns by
// itself.
func (b *batcher) send(batch []*call) {
	p := b.rdb.Pipeline()
	for _, c := range batch {
		c.add(p)
	}
	// The pipeline belongs to no one caller: a caller that gives up does
	// not cut the others off. The client's read and write timeouts bound it.
	_, _ = p.Exec(context.Background())
	b.mu.Lock()
	b.batches++
	b.calls += int64(len(batch))
	b.mu.Unlock()
	for _, c := range batch {
		select {
		case c.wake <- false:
		default: // never: each wake holds one word, and this is the call's only one
		}
	}
}

// handOver gives the sender's place to the oldest waiting call, or gives
// it up when none waits.
func (b *batcher) handOver() {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.senders--
		b.mu.Unlock()
		return
	}
	next := b.queue[0]
	b.queue = b.queue[1:]
	b.mu.Unlock()
	next.wake <- true
}

// stats returns the pipelines sent and the calls they carried.
func (b *batcher) stats() (batches, calls int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.batches, b.calls
}

// queued is the number of calls waiting in the queue.
func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}
