package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
)

// CountsTTL is how long a day's counters of a queue live: 90 days, as
// asynq's daily stats.
const CountsTTL = 90 * 24 * time.Hour

// Counts are the jobs of one queue that ended on one day (UTC), by how
// they ended.
type Counts struct {
	Succeeded int64
	Failed    int64 // dead-lettered (a session skip included)
	Cancelled int64
}

// Processed is every job that ended: succeeded, failed or cancelled.
func (c Counts) Processed() int64 { return c.Succeeded + c.Failed + c.Cancelled }

// day is the counters' name of t's day.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// CountEnded counts a job of queue q that ended in state st
// (StateSucceeded, StateFailed or StateCancelled) now. The ledger counts
// the session jobs it ends (Finish, Cancel, Skip) itself; a worker calls it
// for the plain jobs it ends (asynq counts their failures itself). An
// empty q or another state counts nothing.
func (l *Ledger) CountEnded(ctx context.Context, q, st string) error {
	return l.count(ctx, q, st, false)
}

// count is CountEnded; with forAsynq a failed job is counted failed by
// asynq too (its daily and total failed counters, as its own tools read
// them): a session job's carrier task succeeds whatever the job's end,
// since the ledger, not asynq, owns its retries.
func (l *Ledger) count(ctx context.Context, q, st string, forAsynq bool) error {
	if q == "" || (st != StateSucceeded && st != StateFailed && st != StateCancelled) {
		return nil
	}
	now := time.Now()
	k := keys.QueueCounts(q, day(now))
	p := l.rdb.Pipeline()
	p.HIncrBy(ctx, k, st, 1)
	p.Expire(ctx, k, CountsTTL)
	if forAsynq && st == StateFailed {
		asynqFailed(ctx, p, q, now)
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("counting a %s job of queue %s: %w", st, q, err)
	}
	return nil
}

// asynqFailed adds to p what asynq (v0.26, internal/rdb) does when a task of
// queue q fails at now: its daily failed counter (asynq:{q}:failed:DAY, 90
// days) and its total (asynq:{q}:failed), so that
// asynq's Inspector, asynqmon and `asynq stats` count a failed session job
// failed. TestFailedSessionJobIsFailedForAsynq reads them through asynq.
func asynqFailed(ctx context.Context, p redis.Pipeliner, q string, now time.Time) {
	pre := "asynq:{" + q + "}:"
	p.Incr(ctx, pre+"failed:"+day(now))
	p.ExpireAt(ctx, pre+"failed:"+day(now), now.Add(CountsTTL))
	p.Incr(ctx, pre+"failed")
}

// QueueCounts reads the counters of queue q for day t (UTC). A day without
// an ended job reads zero.
func (l *Ledger) QueueCounts(ctx context.Context, q string, t time.Time) (Counts, error) {
	m, err := l.rdb.HGetAll(ctx, keys.QueueCounts(q, day(t))).Result()
	if err != nil {
		return Counts{}, fmt.Errorf("reading the counters of queue %s: %w", q, err)
	}
	var c Counts
	_, _ = fmt.Sscan(m[StateSucceeded], &c.Succeeded)
	_, _ = fmt.Sscan(m[StateFailed], &c.Failed)
	_, _ = fmt.Sscan(m[StateCancelled], &c.Cancelled)
	return c, nil
}

// counted counts an end the ledger wrote: on the job's path, so a Redis
// that fails here fails the count only, never the end already written.
func (l *Ledger) counted(ctx context.Context, q, st string) {
	_ = l.count(ctx, q, st, true)
}
