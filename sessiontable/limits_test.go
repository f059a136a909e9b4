package sessiontable_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/sessiontable"
)

// Without configuration every session is bounded: an owner holds at most
// DefaultMaxSessionsPerOwner, an idle timeout above DefaultMaxIdleTimeout
// and a lifetime above DefaultMaxLifetime are refused and change nothing,
// and a session created without a lifetime gets the maximum.
func TestDefaultLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})

	in, err := tbl.Create(ctx, sessiontable.Spec{Owner: "alice"})
	require.NoError(t, err)
	require.False(t, in.Deadline.IsZero(), "a session without a lifetime")
	require.WithinDuration(t, in.Created.Add(sessiontable.DefaultMaxLifetime), in.Deadline, time.Millisecond)
	got, err := tbl.Get(ctx, in.ID, sessiontable.OutOfSession())
	require.NoError(t, err)
	require.Equal(t, in.Deadline, got.Deadline)

	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "alice", IdleTimeout: sessiontable.DefaultMaxIdleTimeout})
	require.NoError(t, err, "the maximum itself")
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "alice", Lifetime: sessiontable.DefaultMaxLifetime})
	require.NoError(t, err, "the maximum itself")

	n0, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	for name, spec := range map[string]sessiontable.Spec{
		"idle":     {Owner: "alice", TID: "t1", IdleTimeout: 87600 * time.Hour},
		"idle+1ms": {Owner: "alice", TID: "t2", IdleTimeout: sessiontable.DefaultMaxIdleTimeout + time.Millisecond},
		"lifetime": {Owner: "alice", TID: "t3", Lifetime: sessiontable.DefaultMaxLifetime + time.Second},
	} {
		_, err := tbl.Create(ctx, spec)
		require.ErrorIs(t, err, sessiontable.ErrInvalid, name)
	}
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "alice", IdleTimeout: 87600 * time.Hour})
	require.EqualError(t, err, `invalid idle timeout "87600h0m0s": want 10ms to 24h0m0s (the max idle timeout)`)
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "alice", Lifetime: 800 * time.Hour})
	require.EqualError(t, err, `invalid lifetime "800h0m0s": want 10ms to 720h0m0s (the max lifetime)`)
	n, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Equal(t, n0, n, "a refused creation wrote keys")

	// The quota: fill alice's index up to the default (faster than 997
	// creations), then one more is refused.
	members := make([]any, 0, 2*sessiontable.DefaultMaxSessionsPerOwner)
	for i := range sessiontable.DefaultMaxSessionsPerOwner - 3 {
		members = append(members, time.Now().UnixMilli(), fmt.Sprintf("s%026d", i))
	}
	require.NoError(t, rdb.Do(ctx, append([]any{"ZADD", keys.Owner("alice")}, members...)...).Err())
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "alice"})
	require.ErrorIs(t, err, sessiontable.ErrQuota)
	require.ErrorContains(t, err, `owner "alice" has 1000 open sessions`)
	create(t, tbl, sessiontable.Spec{Owner: "bob"})
}

// Each maximum can be raised (or lowered), none turned off; a default
// above its maximum is a configuration error.
func TestLimitsConfigurable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, _ := newTable(t, sessiontable.Config{MaxIdleTimeout: 100 * time.Hour, MaxLifetime: time.Hour, MaxSessionsPerOwner: 1})
	in, err := tbl.Create(ctx, sessiontable.Spec{Owner: "a", IdleTimeout: 90 * time.Hour})
	require.NoError(t, err)
	require.WithinDuration(t, in.Created.Add(time.Hour), in.Deadline, time.Millisecond, "Lifetime defaults to MaxLifetime")
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "a"})
	require.ErrorIs(t, err, sessiontable.ErrQuota)
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "b", Lifetime: 2 * time.Hour})
	require.ErrorIs(t, err, sessiontable.ErrInvalid)

	for name, cfg := range map[string]sessiontable.Config{
		"negative quota":         {MaxSessionsPerOwner: -1},
		"negative max idle":      {MaxIdleTimeout: -1},
		"max idle over bound":    {MaxIdleTimeout: sessiontable.MaxTimeout + time.Hour},
		"negative max lifetime":  {MaxLifetime: -1},
		"idle over max":          {IdleTimeout: 2 * time.Hour, MaxIdleTimeout: time.Hour},
		"lifetime over max":      {Lifetime: 2 * time.Hour, MaxLifetime: time.Hour},
		"lifetime over default":  {Lifetime: sessiontable.DefaultMaxLifetime + time.Hour},
		"idle over default max":  {IdleTimeout: 25 * time.Hour},
		"negative lifetime":      {Lifetime: -time.Second},
		"max lifetime too short": {MaxLifetime: time.Millisecond},
	} {
		_, err := sessiontable.New(nil, cfg)
		require.Error(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), "sessiontable: "), name)
	}
}
