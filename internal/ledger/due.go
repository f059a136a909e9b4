package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
)

// DueEntry is one session of the repair index and the score it had.
type DueEntry struct {
	Session string
	Score   float64
}

// At is when the entry is due.
func (e DueEntry) At() time.Time { return time.UnixMilli(int64(e.Score)) }

// Due reads up to limit sessions of shard n of the repair index that are due
// at now, earliest first.
func (l *Ledger) Due(ctx context.Context, n int, now time.Time, limit int) ([]DueEntry, error) {
	zs, err := l.rdb.ZRangeByScoreWithScores(ctx, keys.Due(n), &redis.ZRangeBy{
		// Scores carry a random fraction of a millisecond (DueScore): an
		// entry due within now's millisecond is due.
		Min: "-inf", Max: "(" + strconv.FormatInt(now.UnixMilli()+1, 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading repair index shard %d: %w", n, err)
	}
	out := make([]DueEntry, len(zs))
	for i, z := range zs {
		s, _ := z.Member.(string)
		out[i] = DueEntry{Session: s, Score: z.Score}
	}
	return out, nil
}

// DueMove reschedules entries of shard n to at, each only if its score is
// still the one read (due.lua). It returns the sessions moved.
func (l *Ledger) DueMove(ctx context.Context, n int, es []DueEntry, at []time.Time) ([]string, error) {
	args := []any{"move"}
	for i, e := range es {
		args = append(args, e.Session, strconv.FormatFloat(e.Score, 'g', -1, 64), strconv.FormatFloat(DueScore(at[i]), 'f', -1, 64))
	}
	return l.due(ctx, n, args)
}

// DueRemove removes entries of shard n, each only if its score is still the
// one read (due.lua). It returns the sessions removed: the caller must look
// at each once more and put it back (DueAdd) if it has work again.
func (l *Ledger) DueRemove(ctx context.Context, n int, es []DueEntry) ([]string, error) {
	args := []any{"remove"}
	for _, e := range es {
		args = append(args, e.Session, strconv.FormatFloat(e.Score, 'g', -1, 64), "")
	}
	return l.due(ctx, n, args)
}

func (l *Ledger) due(ctx context.Context, n int, args []any) ([]string, error) {
	if len(args) == 1 {
		return nil, nil
	}
	v, err := dueScript.Run(ctx, l.rdb, []string{keys.Due(n)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("updating repair index shard %d: %w", n, err)
	}
	return v, nil
}

// DueAdd puts session s in the repair index, due at t unless it is due
// earlier already.
func (l *Ledger) DueAdd(ctx context.Context, s string, t time.Time) error {
	p := l.rdb.Pipeline()
	dueLT(ctx, p, s, t)
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("writing repair index: %w", err)
	}
	return nil
}

// InspectMany reads the run state of several sessions in one pipeline. A
// session whose inspection failed has its error in errs.
func (l *Ledger) InspectMany(ctx context.Context, ss []string) (snaps []Snapshot, errs []error) {
	snaps, errs = make([]Snapshot, len(ss)), make([]error, len(ss))
	if len(ss) == 0 {
		return snaps, errs
	}
	p := l.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(ss))
	for i, s := range ss {
		cmds[i] = inspectScript.EvalSha(ctx, p, []string{keys.Run(s), keys.Pending(s)}, keys.JobPrefix(s))
	}
	_, _ = p.Exec(ctx)
	for i, s := range ss {
		v, err := cmds[i].Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			snaps[i], errs[i] = l.Inspect(ctx, s) // loads the script
			continue
		}
		if err != nil {
			errs[i] = fmt.Errorf("running inspect script: %w", err)
			continue
		}
		snaps[i], errs[i] = snapshot(s, v)
	}
	return snaps, errs
}

// Ended queues on p what follows the end of job id: its ID index expires
// with its record, after retention. Callers batch these off the job's path;
// one that is lost (a crash) leaves an index that expires by itself, later.
func Ended(ctx context.Context, p redis.Pipeliner, id string, retention time.Duration) {
	p.PExpire(ctx, keys.JobIndex(id), retention)
}

// DeadLetter enters failed job id of session s into the dead-letter index.
func (l *Ledger) DeadLetter(ctx context.Context, s, id string) error {
	p := l.rdb.Pipeline()
	p.ZAdd(ctx, keys.Dead, redis.Z{Score: float64(time.Now().UnixMilli()), Member: deadMember(s, id)})
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("writing dead-letter index: %w", err)
	}
	return nil
}

// DueMissing puts the sessions ss that are not in the repair index into it,
// due at t, and returns how many it added.
func (l *Ledger) DueMissing(ctx context.Context, ss []string, t time.Time) (int, error) {
	if len(ss) == 0 {
		return 0, nil
	}
	p := l.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(ss))
	for i, s := range ss {
		cmds[i] = p.ZAddNX(ctx, keys.DueOf(s), redis.Z{Score: DueScore(t), Member: s})
	}
	if _, err := p.Exec(ctx); err != nil {
		return 0, fmt.Errorf("writing repair index: %w", err)
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}
