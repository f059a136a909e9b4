package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
)

// Report is what one reconciler pass saw and did.
type Report struct {
	Sessions int // sessions with unfinished jobs
	Repaired int // sessions whose head job was dispatched again
}

// reconciler finds sessions that cannot move on by themselves and
// dispatches their head job again:
//   - the lease is held but expired (its worker died or stalled);
//   - the head was dispatched DispatchGrace ago or more and asynq has no
//     task for it (a submitter or a worker died between the ledger write and
//     the enqueue, or an operator deleted the task);
//   - the head is parked or running with no lease (never expected; repaired
//     all the same).
//
// Repairs are compare-and-set: a session that moved since it was inspected
// is left alone.
type reconciler struct {
	rdb  redis.UniversalClient
	led  *ledger.Ledger
	aq   *asynq.Client
	insp *asynq.Inspector
	cfg  *Config
	log  *slog.Logger
	m    *metrics
}

// pass runs one reconciliation over every session with unfinished jobs.
func (r *reconciler) pass(ctx context.Context) (Report, error) {
	var rep Report
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, keys.PendingPattern, int64(r.cfg.ScanCount)).Iterator()
		for it.Next(ctx) {
			s, ok := keys.SessionFromPending(it.Val())
			if !ok {
				continue
			}
			rep.Sessions++
			fixed, err := r.session(ctx, s)
			if err != nil {
				return err
			}
			if fixed {
				rep.Repaired++
			}
		}
		return it.Err()
	}
	// Dead-letter index entries outlive the records they point to by at
	// most DeadRetention.
	cut := strconv.FormatInt(time.Now().Add(-r.cfg.DeadRetention).UnixMilli(), 10)
	if err := r.rdb.ZRemRangeByScore(ctx, keys.Dead, "-inf", "("+cut).Err(); err != nil {
		return rep, fmt.Errorf("trimming dead-letter index: %w", err)
	}
	var err error
	if cc, ok := r.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, r.rdb)
	}
	if err != nil {
		return rep, fmt.Errorf("reconciling: %w", err)
	}
	return rep, nil
}

// session repairs session s if it is stuck, and reports whether it did.
func (r *reconciler) session(ctx context.Context, s string) (bool, error) {
	snap, err := r.led.Inspect(ctx, s)
	if err != nil {
		return false, err
	}
	if snap.Head == "" {
		return false, nil
	}
	why := ""
	switch {
	case snap.LockJob != "" && snap.LockUntil.After(snap.Now):
		return false, nil // running under a live lease
	case snap.LockJob != "":
		why = "lease expired"
	case snap.State == ledger.StatePending || snap.State == ledger.StateRetrying:
		if snap.Now.Sub(snap.Dispatch) < r.cfg.DispatchGrace {
			return false, nil
		}
		alive, err := r.taskAlive(snap)
		if err != nil || alive {
			return false, err
		}
		why = "asynq task missing"
	default:
		why = "head " + snap.State + " without a lease"
	}
	verdict, t, err := r.led.Redispatch(ctx, snap)
	if err != nil || t == nil {
		if verdict == ledger.Gone {
			r.log.Warn("dropped a head job with no record", "session", s, "job", snap.Head)
		}
		return false, err
	}
	if err := dispatch.Enqueue(ctx, r.aq, t); err != nil {
		return false, err
	}
	r.m.repairs.WithLabelValues(reason(why)).Inc()
	r.log.Warn("repaired stuck session", "session", s, "job", t.ID, "gen", t.Gen, "why", why)
	return true, nil
}

// taskAlive reports whether asynq holds a task for the head's dispatch that
// will still be delivered.
func (r *reconciler) taskAlive(snap ledger.Snapshot) (bool, error) {
	var gen int64
	if _, err := fmt.Sscan(snap.Gen, &gen); err != nil {
		return false, nil
	}
	ti, err := r.insp.GetTaskInfo(snap.Queue, ledger.TaskID(snap.Head, gen))
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking up task of job %s: %w", snap.Head, err)
	}
	return ti.State != asynq.TaskStateArchived && ti.State != asynq.TaskStateCompleted, nil
}
