package ledger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sessionq/sessionq/internal/keys"
)

// deadMember is job id of session s in the dead-letter index.
func deadMember(s, id string) string { return s + "/" + id }

// Dead reads the dead-letter index, newest first, from rank start to stop
// (inclusive; -1 is the last). An entry may outlive its record, or name a
// job requeued since: read the record to know.
func (l *Ledger) Dead(ctx context.Context, start, stop int64) ([]JobRef, error) {
	members, err := l.rdb.ZRevRange(ctx, keys.Dead, start, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("reading dead-letter index: %w", err)
	}
	out := make([]JobRef, 0, len(members))
	for _, m := range members {
		if s, id, ok := strings.Cut(m, "/"); ok {
			out = append(out, JobRef{Session: s, ID: id})
		}
	}
	return out, nil
}

// TrimDead removes the dead-letter index entries older than before.
func (l *Ledger) TrimDead(ctx context.Context, before time.Time) error {
	cut := strconv.FormatInt(before.UnixMilli(), 10)
	if err := l.rdb.ZRemRangeByScore(ctx, keys.Dead, "-inf", "("+cut).Err(); err != nil {
		return fmt.Errorf("trimming dead-letter index: %w", err)
	}
	return nil
}

// DeleteResult is the outcome of DeleteDead.
type DeleteResult struct {
	Verdict Verdict // Deleted, Gone or NotDead
	State   string  // NotDead: the job's state
}

// DeleteDead deletes dead-lettered (failed) job id of session s for good
// (deletedead.lua): its record, then its dead-letter entry and its ID index,
// which live in other slots. A crash between the steps leaves an entry
// that names no record (Dead's readers skip it, TrimDead removes it) and an
// index that expires. A job that did not fail is left alone (NotDead).
func (l *Ledger) DeleteDead(ctx context.Context, s, id string) (DeleteResult, error) {
	v, err := words(deleteDeadScript.Run(ctx, l.rdb, []string{keys.Job(s, id)}), "deletedead")
	if err != nil {
		return DeleteResult{}, err
	}
	r := DeleteResult{Verdict: verdict(v[0])}
	if r.Verdict == NotDead && len(v) == 2 {
		r.State = str(v[1])
		return r, nil
	}
	if r.Verdict != Deleted && r.Verdict != Gone {
		return r, fmt.Errorf("deletedead: %w: %v", ErrUnexpectedReply, v)
	}
	if err := l.rdb.ZRem(ctx, keys.Dead, deadMember(s, id)).Err(); err != nil {
		return r, fmt.Errorf("deleting job %s from the dead-letter index: %w", id, err)
	}
	if err := l.rdb.Del(ctx, keys.JobIndex(id)).Err(); err != nil {
		return r, fmt.Errorf("deleting the index of job %s: %w", id, err)
	}
	return r, nil
}
