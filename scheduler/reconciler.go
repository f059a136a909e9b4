package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/dispatch"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
)

// Report is what one reconciler pass saw and did.
type Report struct {
	Looked   int  // due sessions looked at
	Repaired int  // sessions whose head job was dispatched again
	Errors   int  // sessions that could not be looked at or repaired (tried again later)
	More     bool // the pass stopped at PassLimit or PassBudget with more due
	Indexed  int  // sessions in the repair index (with unfinished work, about)
	// Reindexed counts sessions a full scan found missing from the repair
	// index (expected 0; more means index writes were lost).
	Reindexed int
}

// inspectBatch is how many sessions one pipeline inspects.
const inspectBatch = 200

// reconciler finds sessions that cannot move on by themselves and
// dispatches their head job again:
//   - the lease is held but expired (its worker died or stalled);
//   - the head was dispatched DispatchGrace ago or more and asynq has no
//     task for it (a submitter or a worker died between the ledger write and
//     the enqueue, or an operator deleted the task);
//   - the head is parked or running with no lease (never expected; repaired
//     all the same).
//
// It looks only at sessions due in the repair index, and after each look
// moves the session's entry to when it should look again, or removes it
// when the session has nothing left. Repairs and index changes are
// compare-and-set: a session that moved since it was inspected is left
// alone, so two leaders overlapping around a lost term do no harm.
type reconciler struct {
	rdb  redis.UniversalClient
	led  *ledger.Ledger
	aq   *asynq.Client
	insp *asynq.Inspector
	cfg  *Config
	log  *slog.Logger
	m    *metrics
	now  func() time.Time

	shard    int       // first shard of the next pass, for fairness
	lastFull time.Time // last full scan
}

// pass runs one reconciliation over the sessions that are due.
func (r *reconciler) pass(ctx context.Context) (Report, error) {
	var rep Report
	start := r.now()
	deadline := start.Add(r.cfg.PassBudget)
	// Dead-letter index entries outlive the records they point to by at
	// most DeadRetention.
	if err := r.led.TrimDead(ctx, start.Add(-r.cfg.DeadRetention)); err != nil {
		return rep, err
	}
	left := r.cfg.PassLimit
	var firstErr error
	for i := 0; i < keys.DueShards; i++ {
		n := (r.shard + i) % keys.DueShards
		for left > 0 {
			if r.now().After(deadline) || ctx.Err() != nil {
				rep.More = true // perhaps: shards were left unread
				break
			}
			es, err := r.led.Due(ctx, n, r.now(), min(left, inspectBatch))
			if err != nil {
				rep.Errors++
				firstErr = firstOf(firstErr, err)
				break
			}
			if len(es) == 0 {
				break
			}
			r.batch(ctx, n, es, &rep)
			left -= len(es)
			if len(es) < inspectBatch {
				break
			}
		}
		if left == 0 {
			rep.More = true
		}
	}
	r.shard = (r.shard + 1) % keys.DueShards
	if r.cfg.FullScanEvery > 0 && r.now().Sub(r.lastFull) >= r.cfg.FullScanEvery {
		found, err := r.fullScan(ctx)
		if err != nil {
			firstErr = firstOf(firstErr, err)
		} else {
			r.lastFull = r.now()
		}
		rep.Reindexed = found
		if found > 0 {
			r.m.reindexed.Add(float64(found))
			r.log.Warn("full scan found sessions missing from the repair index", "sessions", found)
		}
	}
	p := r.rdb.Pipeline()
	cards := make([]*redis.IntCmd, keys.DueShards)
	for n := range cards {
		cards[n] = p.ZCard(ctx, keys.Due(n))
	}
	if _, err := p.Exec(ctx); err == nil {
		for _, c := range cards {
			rep.Indexed += int(c.Val())
		}
	}
	if firstErr != nil {
		return rep, fmt.Errorf("reconciling: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("reconciling: stopped: %w", err)
	}
	return rep, nil
}

func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// secondLookTimeout bounds the look at the sessions a pass removed from the
// repair index, which goes on when the pass is stopped.
const secondLookTimeout = 2 * time.Second

// batch looks at the due entries es of shard n.
func (r *reconciler) batch(ctx context.Context, n int, es []ledger.DueEntry, rep *Report) {
	ss := make([]string, len(es))
	for i, e := range es {
		ss[i] = e.Session
	}
	snaps, errs := r.led.InspectMany(ctx, ss)
	if ctx.Err() != nil {
		// Stopping: the entries stay due, for the next leader.
		return
	}
	var (
		gone   []ledger.DueEntry
		move   []ledger.DueEntry
		moveAt []time.Time
	)
	for i, e := range es {
		rep.Looked++
		var next time.Time
		var err error
		if errs[i] != nil {
			err = errs[i]
		} else {
			var fixed bool
			next, fixed, err = r.session(ctx, snaps[i])
			if fixed {
				rep.Repaired++
			}
		}
		if err != nil {
			rep.Errors++
			r.m.errors.Inc()
			r.log.Error("reconciling session; trying again later", "session", e.Session, "err", err)
			next = r.now().Add(r.cfg.DispatchGrace)
		}
		if next.IsZero() {
			gone = append(gone, e)
		} else {
			move, moveAt = append(move, e), append(moveAt, next)
		}
	}
	if _, err := r.led.DueMove(ctx, n, move, moveAt); err != nil {
		rep.Errors++
		r.log.Error("rescheduling sessions in the repair index", "err", err)
	}
	removed, err := r.led.DueRemove(ctx, n, gone)
	if err != nil {
		rep.Errors++
		r.log.Error("removing sessions from the repair index", "err", err)
		return
	}
	// A session seen empty may have had a job submitted since: its submit
	// changed the entry's score (so it was not removed) unless it came
	// after the removal. Look once more, and put back those with work.
	if len(removed) == 0 {
		return
	}
	// This look must happen even when the pass is being stopped: an entry
	// removed and not put back is found again by the full scan only.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secondLookTimeout)
	defer cancel()
	busy := r.led.HasJobs(ctx, removed)
	for i, s := range removed {
		if busy[i] {
			if err := r.led.DueAdd(ctx, s, r.now()); err != nil {
				rep.Errors++
				r.log.Error("putting a session back in the repair index", "session", s, "err", err)
			}
		}
	}
}

// session repairs the session of snap if it is stuck. It returns when to
// look at it again (by this process's clock), or the zero time when it has
// nothing left to run, and whether it repaired it.
func (r *reconciler) session(ctx context.Context, snap ledger.Snapshot) (time.Time, bool, error) {
	now := r.now()
	// at converts a Redis server time to this process's clock.
	at := func(t time.Time) time.Time { return now.Add(t.Sub(snap.Now)) }
	if snap.Head == "" {
		return time.Time{}, false, nil
	}
	why := ""
	switch {
	case snap.LockJob != "" && snap.LockUntil.After(snap.Now):
		return at(snap.LockUntil), false, nil // running under a live lease
	case snap.LockJob != "":
		why = "lease expired"
	case snap.Paused:
		// Its jobs wait for a resume (which dispatches the head).
		return now.Add(time.Minute), false, nil
	case snap.State == ledger.StatePending || snap.State == ledger.StateRetrying:
		due := snap.Dispatch
		if snap.At.After(due) {
			due = snap.At
		}
		due = due.Add(r.cfg.DispatchGrace)
		if snap.Now.Before(due) {
			return at(due), false, nil
		}
		alive, err := r.taskAlive(snap)
		if err != nil {
			return time.Time{}, false, err
		}
		if alive {
			// Waiting in its queue: look again later, less often the
			// longer it waits.
			wait := min(max(r.cfg.DispatchGrace, snap.Now.Sub(snap.Dispatch)/4), time.Minute)
			return now.Add(wait), false, nil
		}
		why = "asynq task missing"
	default:
		why = "head " + snap.State + " without a lease"
	}
	verdict, t, err := r.led.Redispatch(ctx, snap)
	if err != nil {
		return time.Time{}, false, err
	}
	if t == nil {
		if verdict == ledger.Gone {
			r.log.Warn("dropped a head job with no record", "session", snap.Session, "job", snap.Head)
		}
		return now, false, nil // it moved: look again at once
	}
	if err := dispatch.Enqueue(ctx, r.aq, t); err != nil {
		return time.Time{}, false, err
	}
	r.m.repairs.WithLabelValues(reason(why)).Inc()
	r.log.Warn("repaired stuck session", "session", snap.Session, "job", t.ID, "gen", t.Gen, "why", why)
	return now.Add(r.cfg.DispatchGrace), true, nil
}

// taskAlive reports whether asynq holds a task for the head's dispatch that
// will still be delivered to a live worker. It is asked only of a head that
// is still pending DispatchGrace after its dispatch.
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
	switch ti.State {
	case asynq.TaskStateArchived, asynq.TaskStateCompleted:
		return false, nil
	case asynq.TaskStateActive:
		// A worker took the task but has not acquired the head for
		// DispatchGrace (acquire follows the dequeue at once): it died
		// between the two. asynq would give the task back only when its
		// own 30s task lease ran out; a new dispatch does it now, and the
		// old task, should its worker wake, is dropped as stale.
		return false, nil
	}
	return true, nil
}

// fullScan walks the keyspace for every session with unfinished jobs and
// puts those missing from the repair index back, due now. It is the safety
// net of the index, run every FullScanEvery.
func (r *reconciler) fullScan(ctx context.Context) (int, error) {
	found := 0
	var batch []string
	flush := func(ctx context.Context) error {
		n, err := r.led.DueMissing(ctx, batch, r.now())
		found += n
		batch = batch[:0]
		return err
	}
	err := r.led.EachSession(ctx, int64(r.cfg.ScanCount), func(ctx context.Context, s string) error {
		batch = append(batch, s)
		if len(batch) < inspectBatch {
			return nil
		}
		return flush(ctx)
	})
	if err == nil {
		err = flush(ctx)
	}
	if err != nil {
		return found, fmt.Errorf("full scan: %w", err)
	}
	return found, nil
}
