package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sessionq/sessionq/internal/dispatch"
)

// Defaults and bounds of ListOptions.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
)

// ListOptions selects and pages the jobs List returns. Empty fields select
// everything.
type ListOptions struct {
	// Queue keeps the jobs of one queue.
	Queue string
	// State keeps the jobs in one state: a State, or one of asynq's and
	// BullMQ's names for it: active (running), completed (succeeded),
	// archived or dead (failed), waiting (pending), scheduled or delayed
	// (pending with a later start).
	State string
	// Session keeps the jobs of one session (and leaves out plain jobs).
	Session string
	// Type keeps the jobs of one type.
	Type string
	// Limit is the page size. Default 100, at most 10000.
	Limit int
	// Page is the page number, from 1. Default 1. Reading page n reads the
	// n*Limit first matching jobs.
	Page int
}

// stateAliases maps the state names users of asynq and BullMQ know to ours.
var stateAliases = map[string]State{
	"active": StateRunning, "completed": StateSucceeded, "archived": StateFailed, "dead": StateFailed,
	"waiting": StatePending,
}

// ParseState reads a state name or alias (see ListOptions.State); "" is
// every state.
func ParseState(s string) (State, bool, error) {
	switch st := State(s); st {
	case "":
		return "", false, nil
	case StatePending, StateParked, StateRunning, StateRetrying, StateSucceeded, StateFailed, StateCancelled, StateWaitingForHandler:
		return st, false, nil
	case "scheduled", "delayed":
		return StatePending, true, nil
	}
	if st, ok := stateAliases[s]; ok {
		return st, false, nil
	}
	return "", false, invalid("state", s, "want pending, scheduled, parked, running, retrying, waiting_for_handler, succeeded, failed or cancelled (or active, completed, archived, dead)")
}

// errPageFull stops the sources once the page is full.
var errPageFull = errors.New("jobs: page full")

// List returns one page of jobs matching o, in this order: unfinished
// session jobs (per session in submission order), dead-lettered session jobs
// (newest first), then plain jobs per queue by name, running, pending,
// scheduled, retrying, failed, succeeded. Finished session jobs other than
// failed ones have no index and are not listed (Get reads them by ID);
// cancelled plain jobs are deleted. Invalid options return an error
// wrapping ErrInvalid.
func (c *Client) List(ctx context.Context, o ListOptions) ([]*Info, error) {
	if o.Limit == 0 {
		o.Limit = DefaultListLimit
	}
	if o.Page == 0 {
		o.Page = 1
	}
	switch {
	case o.Limit < 1 || o.Limit > MaxListLimit:
		return nil, invalid("limit", strconv.Itoa(o.Limit), fmt.Sprintf("want 1 to %d", MaxListLimit))
	case o.Page < 1:
		return nil, invalid("page", strconv.Itoa(o.Page), "want 1 or more")
	case o.Queue != "" && ValidateQueue(o.Queue) != nil:
		return nil, ValidateQueue(o.Queue)
	case o.Session != "" && ValidateSessionID(o.Session) != nil:
		return nil, ValidateSessionID(o.Session)
	case o.Type != "" && ValidateType(o.Type) != nil:
		return nil, ValidateType(o.Type)
	}
	state, scheduled, err := ParseState(o.State)
	if err != nil {
		return nil, err
	}
	skip, want := (o.Page-1)*o.Limit, o.Limit
	var out []*Info
	now := time.Now()
	handled := map[string]bool{} // by type, read once per List
	add := func(in *Info) error {
		if in.State == StatePending || in.State == StateRetrying {
			ok, seen := handled[in.Type]
			if !seen {
				var err error
				if ok, err = c.Handled(ctx, in.Type); err != nil {
					return err
				}
				handled[in.Type] = ok
			}
			if !ok {
				in.State = StateWaitingForHandler
			}
		}
		switch {
		case o.Queue != "" && in.Queue != o.Queue,
			o.Type != "" && in.Type != o.Type,
			state != "" && in.State != state,
			scheduled && !in.NextRunAt.After(now):
			return nil
		}
		if skip > 0 {
			skip--
			return nil
		}
		out = append(out, in)
		if len(out) == want {
			return errPageFull
		}
		return nil
	}
	sources := []func(context.Context, func(*Info) error) error{}
	if state == "" || !state.Terminal() {
		sources = append(sources, func(ctx context.Context, add func(*Info) error) error {
			if o.Session != "" {
				return c.listSession(ctx, o.Session, add)
			}
			return c.eachSession(ctx, func(ctx context.Context, s string) error { return c.listSession(ctx, s, add) })
		})
	}
	if state == "" || state == StateFailed {
		sources = append(sources, func(ctx context.Context, add func(*Info) error) error {
			return c.listDead(ctx, o.Session, add)
		})
	}
	if o.Session == "" {
		sources = append(sources, func(ctx context.Context, add func(*Info) error) error {
			if state == StateWaitingForHandler {
				// Pending and retrying plain jobs (listPlain), of which add
				// keeps those whose type no live worker handles.
				return c.listPlain(ctx, o.Queue, StatePending, add)
			}
			return c.listPlain(ctx, o.Queue, state, add)
		})
	}
	for _, src := range sources {
		if err := src(ctx, add); errors.Is(err, errPageFull) {
			break
		} else if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listSession passes the unfinished jobs of session s to add, in order.
func (c *Client) listSession(ctx context.Context, s string, add func(*Info) error) error {
	ids, _, err := c.led.Backlog(ctx, s, 0, -1)
	if err != nil {
		return err
	}
	return c.passRecords(ctx, s, ids, add)
}

// passRecords reads the records of jobs ids of session s in one round trip
// and passes those that exist to add.
func (c *Client) passRecords(ctx context.Context, s string, ids []string, add func(*Info) error) error {
	recs, err := c.led.Records(ctx, s, ids)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := add(infoFromRecord(r)); err != nil {
			return err
		}
	}
	return nil
}

// listDead passes the dead-lettered session jobs (of session s, or every
// session when s is empty) to add, newest first.
func (c *Client) listDead(ctx context.Context, s string, add func(*Info) error) error {
	const batch = 500
	for start := int64(0); ; start += batch {
		dead, err := c.led.Dead(ctx, start, start+batch-1)
		if err != nil {
			return err
		}
		for _, d := range dead {
			if s != "" && d.Session != s {
				continue
			}
			err := c.passRecords(ctx, d.Session, []string{d.ID}, func(in *Info) error {
				if in.State != StateFailed {
					return nil // requeued since
				}
				return add(in)
			})
			if err != nil {
				return err
			}
		}
		if len(dead) < batch {
			return nil
		}
	}
}

// plainStates are asynq's task states in listing order, with ours.
var plainStates = []struct {
	state State
	list  func(*asynq.Inspector, string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)
}{
	{StateRunning, (*asynq.Inspector).ListActiveTasks},
	{StatePending, (*asynq.Inspector).ListPendingTasks},
	{StatePending, (*asynq.Inspector).ListScheduledTasks},
	{StateRetrying, (*asynq.Inspector).ListRetryTasks},
	{StateFailed, (*asynq.Inspector).ListArchivedTasks},
	{StateSucceeded, (*asynq.Inspector).ListCompletedTasks},
}

// listPlain passes the plain jobs (of queue q, or every queue) in state st
// (or every state; pending: the retrying ones too) to add; the asynq tasks that carry session jobs are left
// out, the ledger lists those.
func (c *Client) listPlain(ctx context.Context, q string, st State, add func(*Info) error) error {
	queues := []string{q}
	if q == "" {
		var err error
		if queues, err = c.insp.Queues(); err != nil {
			return fmt.Errorf("listing queues: %w", err)
		}
		slices.Sort(queues)
	}
	const size = 200
	for _, q := range queues {
		for _, ps := range plainStates {
			// A retrying task may read pending (handed back unopened,
			// plainInfo) or waiting_for_handler (List): the caller's add
			// sorts them.
			if st != "" && ps.state != st && (st != StatePending || ps.state != StateRetrying) {
				continue
			}
			for page := 1; ; page++ {
				if err := ctx.Err(); err != nil {
					return err
				}
				tasks, err := ps.list(c.insp, q, asynq.PageSize(size), asynq.Page(page))
				if errors.Is(err, asynq.ErrQueueNotFound) {
					break
				}
				if err != nil {
					return fmt.Errorf("listing jobs of queue %s: %w", q, err)
				}
				for _, ti := range tasks {
					if _, carrier := ti.Headers[dispatch.HeaderJob]; carrier {
						continue
					}
					if err := add(plainInfo(ti)); err != nil {
						return err
					}
				}
				if len(tasks) < size {
					break
				}
			}
		}
	}
	return nil
}

// plainInfo is the Info of a plain job's asynq task, as Get reads it.
func plainInfo(ti *asynq.TaskInfo) *Info {
	in := &Info{
		ID: ti.ID, Type: ti.Type, Queue: ti.Queue, State: stateFromAsynq(ti.State),
		Attempts: ti.Retried, MaxRetry: dispatch.PlainMaxRetry(ti.Headers, ti.MaxRetry), LastError: ti.LastErr,
		Result: ti.Result, Payload: ti.Payload, Finished: ti.CompletedAt, NextRunAt: ti.NextProcessAt,
	}
	if in.State.Terminal() || in.State == StateRunning || in.State == StateRetrying {
		in.Attempts = ti.Retried + 1
	}
	if in.State == StateRetrying && strings.HasPrefix(ti.LastErr, dispatch.Declined) {
		// Handed back unopened by a worker without its handler: not
		// attempted, ready to run again.
		in.State, in.Attempts = StatePending, ti.Retried
	}
	switch ti.State {
	case asynq.TaskStateArchived:
		in.Finished = ti.LastFailedAt
	case asynq.TaskStatePending, asynq.TaskStateActive:
		in.NextRunAt = time.Time{} // asynq says "now": nothing is scheduled
	}
	return in
}
