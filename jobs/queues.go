package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
)

// QueueInfo is one queue as Queues reports it. Pending, Scheduled, Retrying
// and Running count asynq tasks, a dispatched session job included; Parked
// counts the session jobs waiting in their session's ledger for their turn
// (not yet in asynq); Dead counts failed jobs, plain and session.
// Processed, Succeeded, Failed and Cancelled count the jobs, plain and
// session, that ended today (UTC) by how they ended, as the ledger counts
// them (ledger.QueueCounts), not asynq's task counters: asynq counts each
// run of a carrier task and never a session job run inline.
type QueueInfo struct {
	Name      string `json:"name"`
	Paused    bool   `json:"paused"`
	Pending   int    `json:"pending"`
	Scheduled int    `json:"scheduled"`
	Retrying  int    `json:"retrying"`
	Running   int    `json:"running"`
	Parked    int    `json:"parked"`
	Dead      int    `json:"dead"`
	Succeeded int    `json:"succeeded"`
	Processed int    `json:"processed"`
	Failed    int    `json:"failed"`
	Cancelled int    `json:"cancelled"`
}

// Depth is how many jobs of the queue wait: pending, scheduled, retrying
// and parked.
func (q QueueInfo) Depth() int { return q.Pending + q.Scheduled + q.Retrying + q.Parked }

// Queues reports every queue that holds or held jobs, by name. Counting
// parked and dead session jobs reads every unfinished session job and every
// dead-letter entry: an operator's command, not a hot path.
func (c *Client) Queues(ctx context.Context) ([]QueueInfo, error) {
	byName := map[string]*QueueInfo{}
	get := func(name string) *QueueInfo {
		if q := byName[name]; q != nil {
			return q
		}
		q := &QueueInfo{Name: name}
		byName[name] = q
		return q
	}
	names, err := c.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("listing queues: %w", err)
	}
	for _, name := range names {
		qi, err := c.insp.GetQueueInfo(name)
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading queue %s: %w", name, err)
		}
		q := get(name)
		q.Paused, q.Pending, q.Scheduled, q.Retrying = qi.Paused, qi.Pending, qi.Scheduled, qi.Retry
		q.Running, q.Dead = qi.Active, qi.Archived
		// The archived carrier of a session job is not a dead job: the
		// ledger's dead-letter set has the session jobs.
	}
	err = c.eachSession(ctx, func(ctx context.Context, s string) error {
		ids, _, err := c.led.Backlog(ctx, s, 0, -1)
		if err != nil {
			return err
		}
		recs, err := c.led.Queues(ctx, s, ids)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.State == ledger.StateParked {
				get(r.Queue).Parked++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	dead, err := c.led.Dead(ctx, 0, -1)
	if err != nil {
		return nil, err
	}
	for _, d := range dead {
		recs, err := c.led.Queues(ctx, d.Session, []string{d.ID})
		if err != nil {
			return nil, err
		}
		if len(recs) == 1 && recs[0].State == ledger.StateFailed {
			get(recs[0].Queue).Dead++
		}
	}
	now := time.Now()
	out := make([]QueueInfo, 0, len(byName))
	for _, q := range byName {
		n, err := c.led.QueueCounts(ctx, q.Name, now)
		if err != nil {
			return nil, err
		}
		q.Processed, q.Succeeded, q.Failed, q.Cancelled = int(n.Processed()), int(n.Succeeded), int(n.Failed), int(n.Cancelled)
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// PauseQueue stops workers from taking jobs of queue name (asynq's
// PauseQueue): running jobs finish, the rest wait. Pausing a paused queue
// is not an error, nor is pausing a queue that has no job yet. A session job
// of a paused queue waits too, and so do the jobs of its session behind it.
func (c *Client) PauseQueue(ctx context.Context, name string) error {
	if err := ValidateQueue(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// asynq says "already paused" only in its error text.
	if err := c.insp.PauseQueue(name); err != nil && !strings.Contains(err.Error(), "already paused") {
		return fmt.Errorf("pausing queue %s: %w", name, err)
	}
	return c.announceQueue(ctx, name)
}

// announceQueue tells the workers at once that queue name was paused or
// resumed (they look now and then anyway).
func (c *Client) announceQueue(ctx context.Context, name string) error {
	if err := c.rdb.Publish(ctx, keys.QueueEvents, name).Err(); err != nil {
		return fmt.Errorf("announcing queue %s: %w", name, err)
	}
	return nil
}

// ResumeQueue lets workers take jobs of queue name again. Resuming a queue
// that is not paused is not an error.
func (c *Client) ResumeQueue(ctx context.Context, name string) error {
	if err := ValidateQueue(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// asynq says "not paused" only in its error text.
	if err := c.insp.UnpauseQueue(name); err != nil && !strings.Contains(err.Error(), "is not paused") {
		return fmt.Errorf("resuming queue %s: %w", name, err)
	}
	return c.announceQueue(ctx, name)
}

// eachSession calls f for every session with unfinished jobs, scanning
// every master of a Redis Cluster.
func (c *Client) eachSession(ctx context.Context, f func(ctx context.Context, s string) error) error {
	return c.led.EachSession(ctx, 1000, f)
}
