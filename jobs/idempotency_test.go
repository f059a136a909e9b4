package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// snapshot is every key of the database with its serialized value: two
// equal snapshots mean nothing was written in between.
func snapshot(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	ks, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	out := make(map[string]string, len(ks))
	for _, k := range ks {
		v, err := rdb.Dump(ctx, k).Result()
		require.NoError(t, err)
		out[k] = v
	}
	return out
}

// An idempotency key lives in its owner's namespace and is bound to its
// first submit's kind, session, queue and type: the same again is the same
// job; anything else is a conflict that changes nothing; another owner's
// key of the same name is another job.
func TestIdempotencyKeyReuse(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := context.Background()
	plain := []jobs.Option{}
	sess := func(s string) []jobs.Option { return []jobs.Option{jobs.Session(s)} }
	with := func(base []jobs.Option, more ...jobs.Option) []jobs.Option {
		return append(append([]jobs.Option{}, base...), more...)
	}
	const (
		same     = "existing"
		conflict = "conflict"
		separate = "separate"
	)
	tests := []struct {
		name         string
		first, again []jobs.Option
		firstType    string
		againType    string
		want         string
		bound, asked jobs.KeyBinding // of a conflict
	}{
		{name: "plain, plain", first: plain, again: plain, want: same},
		{name: "session, same session", first: sess("s1"), again: sess("s1"), want: same},
		{name: "plain, session", first: plain, again: sess("s1"), want: conflict,
			bound: jobs.KeyBinding{Kind: jobs.KindPlain, Queue: "default", Type: "t"},
			asked: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s1", Queue: "default", Type: "t"}},
		{name: "session, plain", first: sess("s1"), again: plain, want: conflict,
			bound: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s1", Queue: "default", Type: "t"},
			asked: jobs.KeyBinding{Kind: jobs.KindPlain, Queue: "default", Type: "t"}},
		{name: "session, other session", first: sess("s1"), again: sess("s2"), want: conflict,
			bound: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s1", Queue: "default", Type: "t"},
			asked: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s2", Queue: "default", Type: "t"}},
		{name: "plain, other queue", first: plain, again: with(plain, jobs.Queue("q2")), want: conflict,
			bound: jobs.KeyBinding{Kind: jobs.KindPlain, Queue: "default", Type: "t"},
			asked: jobs.KeyBinding{Kind: jobs.KindPlain, Queue: "q2", Type: "t"}},
		{name: "session, other queue", first: sess("s1"), again: with(sess("s1"), jobs.Queue("q2")), want: conflict,
			bound: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s1", Queue: "default", Type: "t"},
			asked: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s1", Queue: "q2", Type: "t"}},
		{name: "plain, other type", first: plain, again: plain, againType: "u", want: conflict,
			bound: jobs.KeyBinding{Kind: jobs.KindPlain, Queue: "default", Type: "t"},
			asked: jobs.KeyBinding{Kind: jobs.KindPlain, Queue: "default", Type: "u"}},
		{name: "session, other type", first: sess("s1"), again: sess("s1"), againType: "u", want: conflict,
			bound: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s1", Queue: "default", Type: "t"},
			asked: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s1", Queue: "default", Type: "u"}},
		{name: "owner's plain, owner's session", first: with(plain, jobs.Owner("alice")),
			again: with(sess("s1"), jobs.Owner("alice")), want: conflict,
			bound: jobs.KeyBinding{Kind: jobs.KindPlain, Queue: "default", Type: "t"},
			asked: jobs.KeyBinding{Kind: jobs.KindSession, Session: "s1", Queue: "default", Type: "t"}},
		{name: "owner's plain, owner's plain", first: with(plain, jobs.Owner("alice")),
			again: with(plain, jobs.Owner("alice")), want: same},
		{name: "alice's session, bob's plain", first: with(sess("s1"), jobs.Owner("alice")),
			again: with(plain, jobs.Owner("bob")), want: separate},
		{name: "bob's plain, alice's plain", first: with(plain, jobs.Owner("bob")),
			again: with(plain, jobs.Owner("alice")), want: separate},
		{name: "default's plain, alice's session", first: plain,
			again: with(sess("s1"), jobs.Owner("alice")), want: separate},
		{name: "alice's plain, default's plain", first: with(plain, jobs.Owner("alice")),
			again: plain, want: separate},
	}
	for i, tt := range tests {
		// One database for all: each case has its own key, and the
		// snapshot of a conflict covers every key.
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("key-%d", i)
			typ := func(s string) string {
				if s == "" {
					return "t"
				}
				return s
			}
			first, err := c.Submit(ctx, typ(tt.firstType), []byte("1"), with(tt.first, jobs.IdempotencyKey(key))...)
			require.NoError(t, err)
			require.False(t, first.Existing)
			before := snapshot(t, rdb)
			again, err := c.Submit(ctx, typ(tt.againType), []byte("2"), with(tt.again, jobs.IdempotencyKey(key))...)
			switch tt.want {
			case same:
				require.NoError(t, err)
				require.True(t, again.Existing)
				require.Equal(t, first.ID, again.ID)
			case separate:
				require.NoError(t, err)
				require.False(t, again.Existing, "another owner's key named a job")
				require.NotEqual(t, first.ID, again.ID)
				in, err := c.Get(ctx, first.ID)
				require.NoError(t, err)
				require.Equal(t, "1", string(in.Payload))
				in, err = c.Get(ctx, again.ID)
				require.NoError(t, err)
				require.Equal(t, "2", string(in.Payload))
			case conflict:
				require.ErrorIs(t, err, jobs.ErrIdempotencyConflict)
				var ce *jobs.IdempotencyConflictError
				require.ErrorAs(t, err, &ce)
				require.Equal(t, key, ce.Key)
				require.Equal(t, first.ID, ce.ID)
				require.Equal(t, tt.bound, ce.Bound)
				require.Equal(t, tt.asked, ce.Asked)
				require.Contains(t, err.Error(), "jobs: idempotency key conflict")
				require.Equal(t, before, snapshot(t, rdb), "a conflicting submit changed Redis")
			}
		})
	}
}

// The ID of a key in the default namespace is derived from the key alone,
// as before owners existed; an owner's is derived from both.
func TestIdempotencyKeyIDs(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	ctx := context.Background()
	sub, err := c.Submit(ctx, "t", nil, jobs.IdempotencyKey("k"))
	require.NoError(t, err)
	require.Equal(t, jobs.IDForIdempotencyKey("k"), sub.ID)
	require.Equal(t, jobs.IDForOwnerIdempotencyKey("", "k"), sub.ID)
	sub, err = c.Submit(ctx, "t", nil, jobs.IdempotencyKey("k"), jobs.Owner("alice"))
	require.NoError(t, err)
	require.Equal(t, jobs.IDForOwnerIdempotencyKey("alice", "k"), sub.ID)
	require.NotEqual(t, jobs.IDForIdempotencyKey("k"), sub.ID)
	require.NotEqual(t, jobs.IDForOwnerIdempotencyKey("alice:", "k"), jobs.IDForOwnerIdempotencyKey("alice", ":k"))

	_, err = c.Submit(ctx, "t", nil, jobs.IdempotencyKey("k"), jobs.Owner("bad owner"))
	require.ErrorIs(t, err, jobs.ErrInvalid)
}

// A submitter that dies between binding the key and enqueueing the job
// leaves a binding that the same submit, retried, completes; another kind
// is still refused.
func TestIdempotencyBindingSurvivesACrash(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := context.Background()
	for _, opts := range [][]jobs.Option{{}, {jobs.Session("s1")}} {
		key := fmt.Sprintf("crash-%d", len(opts))
		id := jobs.IDForIdempotencyKey(key)
		// The binding as the dead submitter left it, and nothing else.
		kind, sess := "plain", ""
		if len(opts) > 0 {
			kind, sess = "session", "s1"
		}
		require.NoError(t, rdb.HSet(ctx, keys.Idempotency(id), "kind", kind, "sess", sess, "queue", "default", "type", "t").Err())
		_, err := c.Get(ctx, id)
		require.ErrorIs(t, err, jobs.ErrNotFound)

		other := []jobs.Option{jobs.Session("s1")}
		if len(opts) > 0 {
			other = nil
		}
		_, err = c.Submit(ctx, "t", nil, append(other, jobs.IdempotencyKey(key))...)
		require.ErrorIs(t, err, jobs.ErrIdempotencyConflict)

		sub, err := c.Submit(ctx, "t", []byte("x"), append(opts, jobs.IdempotencyKey(key))...)
		require.NoError(t, err)
		require.Equal(t, id, sub.ID)
		require.False(t, sub.Existing, "the retry did not make the job")
		in, err := c.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, sess, in.SessionID)
	}
}

// The binding lives at least as long as the job can be found by its ID,
// from when it is due.
func TestIdempotencyBindingLife(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := context.Background()
	sub, err := c.Submit(ctx, "t", nil, jobs.IdempotencyKey("life"))
	require.NoError(t, err)
	ttl := rdb.PTTL(ctx, keys.Idempotency(sub.ID)).Val()
	require.Greater(t, ttl, 29*24*time.Hour)
	require.LessOrEqual(t, ttl, 30*24*time.Hour)

	sub, err = c.Submit(ctx, "t", nil, jobs.IdempotencyKey("later"), jobs.ProcessIn(48*time.Hour))
	require.NoError(t, err)
	require.Greater(t, rdb.PTTL(ctx, keys.Idempotency(sub.ID)).Val(), 31*24*time.Hour)

	// A session job whose binding is gone keeps its key through its ID
	// index: only its own session can take it up again.
	sub, err = c.Submit(ctx, "t", nil, jobs.IdempotencyKey("indexed"), jobs.Session("s1"))
	require.NoError(t, err)
	require.NoError(t, rdb.Del(ctx, keys.Idempotency(sub.ID)).Err())
	_, err = c.Submit(ctx, "t", nil, jobs.IdempotencyKey("indexed"))
	require.ErrorIs(t, err, jobs.ErrIdempotencyConflict)
	_, err = c.Submit(ctx, "t", nil, jobs.IdempotencyKey("indexed"), jobs.Session("s2"))
	require.ErrorIs(t, err, jobs.ErrIdempotencyConflict)
	again, err := c.Submit(ctx, "t", nil, jobs.IdempotencyKey("indexed"), jobs.Session("s1"))
	require.NoError(t, err)
	require.True(t, again.Existing)
}

// A plain and a session submit of one key at the same time: exactly one
// wins, the other gets the conflict, the ID is in one place only, and each
// job runs once.
func TestIdempotencyConcurrentKinds(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := context.Background()
	const rounds = 50
	ids := make([]string, rounds)
	for r := range rounds {
		key := fmt.Sprintf("race-%d", r)
		var wg sync.WaitGroup
		start := make(chan struct{})
		subs := make([]jobs.Submitted, 2)
		errs := make([]error, 2)
		for i, opts := range [][]jobs.Option{{}, {jobs.Session(fmt.Sprintf("s%d", r))}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				subs[i], errs[i] = c.Submit(ctx, "t", nil, append(opts, jobs.IdempotencyKey(key))...)
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				ids[r] = subs[i].ID
				continue
			}
			require.ErrorIs(t, err, jobs.ErrIdempotencyConflict, "round %d", r)
		}
		require.Equal(t, 1, won, "round %d: %v", r, errs)
		id := ids[r]
		// Exactly one of: a plain task under the ID, a session job
		// indexed by it.
		plainTask := rdb.Exists(ctx, "asynq:{default}:t:"+id).Val()
		indexed := rdb.Exists(ctx, keys.JobIndex(id)).Val()
		require.EqualValues(t, 1, plainTask+indexed, "round %d: plain %d, session %d", r, plainTask, indexed)
	}

	var mu sync.Mutex
	runs := map[string]int{}
	startWorker(t, rdb, nil, map[string]worker.HandlerFunc{
		"t": func(_ context.Context, j *worker.Job) error {
			mu.Lock()
			runs[j.ID]++
			mu.Unlock()
			return nil
		},
	})
	for _, id := range ids {
		waitState(t, c, id, jobs.StateSucceeded)
	}
	mu.Lock()
	defer mu.Unlock()
	var twice []string
	for id, n := range runs {
		if n != 1 {
			twice = append(twice, id)
		}
	}
	sort.Strings(twice)
	require.Empty(t, twice, "jobs that ran more than once")
	require.Len(t, runs, rounds)
}

// A submit refused for a full backlog leaves its key bound to what it
// asked, as a crash would: the same submit, retried, makes the job; another
// kind is refused.
func TestIdempotencyRefusedSubmitKeepsItsKey(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := context.Background()
	first, err := c.Submit(ctx, "t", nil, jobs.Session("s1"), jobs.MaxBacklog(1))
	require.NoError(t, err)
	key := []jobs.Option{jobs.Session("s1"), jobs.MaxBacklog(1), jobs.IdempotencyKey("full")}
	_, err = c.Submit(ctx, "t", nil, key...)
	require.True(t, errors.Is(err, jobs.ErrBacklogFull), "%v", err)
	id := jobs.IDForIdempotencyKey("full")
	require.Zero(t, rdb.Exists(ctx, keys.JobIndex(id)).Val(), "the refused job left its index")
	_, err = c.Submit(ctx, "t", nil, jobs.IdempotencyKey("full"))
	require.ErrorIs(t, err, jobs.ErrIdempotencyConflict)
	_, err = c.Cancel(ctx, first.ID)
	require.NoError(t, err)
	sub, err := c.Submit(ctx, "t", nil, key...)
	require.NoError(t, err)
	require.Equal(t, id, sub.ID)
	require.False(t, sub.Existing)
}
