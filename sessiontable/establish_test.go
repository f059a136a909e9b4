package sessiontable_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/sessiontable"
)

func TestEstablish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})

	// create=true without a TID: a new session, bound to nothing.
	a, err := tbl.Establish(ctx, true, sessiontable.Spec{Owner: "alice"})
	require.NoError(t, err)
	require.NoError(t, sessiontable.ValidateID(a.ID))
	require.Equal(t, "alice", a.Owner)
	require.Equal(t, sessiontable.StateOpen, a.State)

	// create=true with a TID binds it.
	b, err := tbl.Establish(ctx, true, sessiontable.Spec{TID: "term-1"})
	require.NoError(t, err)
	require.Equal(t, sessiontable.DefaultOwner, b.Owner)
	require.Equal(t, "term-1", b.TID)
	require.NotEqual(t, a.ID, b.ID)

	// create=false finds the session bound to the TID.
	found, err := tbl.Establish(ctx, false, sessiontable.Spec{TID: "term-1"})
	require.NoError(t, err)
	require.Equal(t, b.ID, found.ID)

	// create=false without a TID is a clear error of its own.
	_, err = tbl.Establish(ctx, false, sessiontable.Spec{})
	require.ErrorIs(t, err, sessiontable.ErrTIDRequired)
	require.Contains(t, err.Error(), "TID is required")

	// create=false with an unknown TID: not found.
	_, err = tbl.Establish(ctx, false, sessiontable.Spec{TID: "term-unknown"})
	require.ErrorIs(t, err, sessiontable.ErrNotFound)

	// A malformed TID is invalid input, and changes nothing.
	_, err = tbl.Establish(ctx, false, sessiontable.Spec{TID: "bad{tid}"})
	require.ErrorIs(t, err, sessiontable.ErrInvalid)
	n, _ := rdb.DBSize(ctx).Result()
	_, err = tbl.Establish(ctx, true, sessiontable.Spec{TID: "bad tid"})
	require.ErrorIs(t, err, sessiontable.ErrInvalid)
	n2, _ := rdb.DBSize(ctx).Result()
	require.Equal(t, n, n2, "a refused creation wrote keys")

	// Binding a TID that is taken is an error, and leaves nothing behind.
	_, err = tbl.Establish(ctx, true, sessiontable.Spec{TID: "term-1", Owner: sessiontable.DefaultOwner})
	require.ErrorIs(t, err, sessiontable.ErrTIDTaken)
	mine, err := tbl.List(ctx, sessiontable.ListOptions{Owner: sessiontable.DefaultOwner})
	require.NoError(t, err)
	require.Len(t, mine, 1)
	all, err := rdb.ZCard(ctx, keys.Sessions).Result()
	require.NoError(t, err)
	require.EqualValues(t, 2, all, "the refused creation left its sweep index entry")

	// ... unless asked to replace: the new session gets the TID, the old
	// one stays open but is no longer found by it.
	c, err := tbl.Establish(ctx, true, sessiontable.Spec{TID: "term-1", ReplaceTID: true})
	require.NoError(t, err)
	found, err = tbl.Lookup(ctx, "", "term-1")
	require.NoError(t, err)
	require.Equal(t, c.ID, found.ID)
	_, err = tbl.Get(ctx, b.ID)
	require.NoError(t, err, "the replaced session stays open")

	// Closing the replaced session does not release the TID it lost.
	require.NoError(t, tbl.Close(ctx, b.ID))
	found, err = tbl.Lookup(ctx, "", "term-1")
	require.NoError(t, err)
	require.Equal(t, c.ID, found.ID)

	// Closing the bound session frees the TID.
	require.NoError(t, tbl.Close(ctx, c.ID))
	_, err = tbl.Lookup(ctx, "", "term-1")
	require.ErrorIs(t, err, sessiontable.ErrNotFound)
	d, err := tbl.Establish(ctx, true, sessiontable.Spec{TID: "term-1"})
	require.NoError(t, err)
	require.NotEqual(t, c.ID, d.ID)
}

func TestEstablishExpiredTIDIsFree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, _ := newTable(t, sessiontable.Config{})
	a, err := tbl.Create(ctx, sessiontable.Spec{TID: "t", IdleTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() bool {
		_, err := tbl.Get(ctx, a.ID, sessiontable.OutOfSession())
		return errors.Is(err, sessiontable.ErrNotFound)
	}, "session to expire")
	// Not swept yet: the binding still names the expired session, which
	// is not live, so the TID is free.
	_, err = tbl.Lookup(ctx, "", "t")
	require.ErrorIs(t, err, sessiontable.ErrNotFound)
	b, err := tbl.Create(ctx, sessiontable.Spec{TID: "t"})
	require.NoError(t, err)
	found, err := tbl.Lookup(ctx, "", "t")
	require.NoError(t, err)
	require.Equal(t, b.ID, found.ID)
}

// Concurrent establishment with one TID yields exactly one session: one
// caller gets it, every other ErrTIDTaken, and nothing of theirs remains.
func TestEstablishConcurrentSameTID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	for round := range 5 {
		tid := "term-" + string(rune('a'+round))
		const n = 16
		var wg sync.WaitGroup
		ids := make([]string, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				in, err := tbl.Establish(ctx, true, sessiontable.Spec{TID: tid, Owner: "o" + tid})
				if err == nil {
					ids[i] = in.ID
				}
				errs[i] = err
			}()
		}
		close(start)
		wg.Wait()
		var won []string
		for i, err := range errs {
			if err == nil {
				won = append(won, ids[i])
				continue
			}
			require.ErrorIs(t, err, sessiontable.ErrTIDTaken)
		}
		require.Len(t, won, 1, "round %d: want exactly one session, got %v", round, won)
		found, err := tbl.Lookup(ctx, "o"+tid, tid)
		require.NoError(t, err)
		require.Equal(t, won[0], found.ID)
		// Exactly one record, and one owner entry, exist for the TID.
		list, err := tbl.List(ctx, sessiontable.ListOptions{Owner: "o" + tid})
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, won[0], list[0].ID)
		owned, err := rdb.ZCard(ctx, keys.Owner("o"+tid)).Result()
		require.NoError(t, err)
		require.EqualValues(t, 1, owned, "losers left owner index entries")
	}
	recs, err := rdb.Keys(ctx, "sq:{*}:sess").Result()
	require.NoError(t, err)
	require.Len(t, recs, 5)
	idx, err := rdb.ZCard(ctx, keys.Sessions).Result()
	require.NoError(t, err)
	require.EqualValues(t, 5, idx, "losers left sweep index entries")
}

func TestGetAndList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, _ := newTable(t, sessiontable.Config{})
	a, err := tbl.Create(ctx, sessiontable.Spec{Owner: "u1", IdleTimeout: time.Hour, Lifetime: 30 * time.Minute})
	require.NoError(t, err)
	b := create(t, tbl, sessiontable.Spec{Owner: "u2"})

	in, err := tbl.Get(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, "u1", in.Owner)
	require.Equal(t, time.Hour, in.IdleTimeout)
	require.False(t, in.Deadline.IsZero())
	require.WithinDuration(t, in.Created.Add(30*time.Minute), in.Deadline, time.Millisecond)
	require.Equal(t, in.Deadline, in.Expires, "the lifetime caps the idle expiry")

	l, err := tbl.List(ctx, sessiontable.ListOptions{})
	require.NoError(t, err)
	require.Len(t, l, 2)
	l, err = tbl.List(ctx, sessiontable.ListOptions{Owner: "u2"})
	require.NoError(t, err)
	require.Len(t, l, 1)
	require.Equal(t, b, l[0].ID)

	for _, bad := range []string{"", "short", "saaaaaaaaaaaaaaaaaaaaaaaaab", "saaaaaaaaaaaaaaaaaaaaaaa/aa", "Saaaaaaaaaaaaaaaaaaaaaaaaaa",
		"taaaaaaaaaaaaaaaaaaaaaaaaaa", "s../../../../../../etc/pass", "user-42"} {
		_, err := tbl.Get(ctx, bad)
		require.ErrorIs(t, err, sessiontable.ErrInvalid, "id %q", bad)
	}
	_, err = tbl.Get(ctx, sessiontable.NewID())
	require.ErrorIs(t, err, sessiontable.ErrNotFound)
	require.ErrorIs(t, tbl.Close(ctx, sessiontable.NewID()), sessiontable.ErrNotFound)
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{MaxParams: 2, MaxParamValue: 8})
	for name, spec := range map[string]sessiontable.Spec{
		"owner":        {Owner: "a|b"},
		"tid":          {TID: "x}"},
		"idle":         {IdleTimeout: time.Microsecond},
		"lifetime":     {Lifetime: -time.Second},
		"param key":    {Params: map[string]string{"a=b": "v"}},
		"param value":  {Params: map[string]string{"k": "123456789"}},
		"param utf8":   {Params: map[string]string{"k": "\xff"}},
		"param count":  {Params: map[string]string{"a": "1", "b": "2", "c": "3"}},
		"empty key":    {Params: map[string]string{"": "1"}},
		"owner length": {Owner: string(make([]byte, 129))},
	} {
		_, err := tbl.Create(ctx, spec)
		require.ErrorIs(t, err, sessiontable.ErrInvalid, name)
	}
	n, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	require.Zero(t, n, "refused creations wrote keys")
}

// TIDs are per owner: two owners bind one TID name to two sessions, each
// finds its own, and one owner's TIDs neither block nor show through
// another's (no "taken" on create where lookup says not found).
func TestTIDsArePerOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	alice, err := tbl.Establish(ctx, true, sessiontable.Spec{Owner: "alice", TID: "t-1"})
	require.NoError(t, err)
	bob, err := tbl.Establish(ctx, true, sessiontable.Spec{Owner: "bob", TID: "t-1"})
	require.NoError(t, err, "another owner's TID of the same name blocked the creation")
	require.NotEqual(t, alice.ID, bob.ID)

	found, err := tbl.Lookup(ctx, "bob", "t-1")
	require.NoError(t, err)
	require.Equal(t, bob.ID, found.ID)
	found, err = tbl.Establish(ctx, false, sessiontable.Spec{Owner: "alice", TID: "t-1"})
	require.NoError(t, err)
	require.Equal(t, alice.ID, found.ID)

	// Alice alone has t-2: Bob does not find it, and can bind it.
	a2, err := tbl.Create(ctx, sessiontable.Spec{Owner: "alice", TID: "t-2"})
	require.NoError(t, err)
	_, err = tbl.Lookup(ctx, "bob", "t-2")
	require.ErrorIs(t, err, sessiontable.ErrNotFound)
	_, err = tbl.Lookup(ctx, "", "t-2")
	require.ErrorIs(t, err, sessiontable.ErrNotFound, "the default owner is an owner too")
	b2, err := tbl.Create(ctx, sessiontable.Spec{Owner: "bob", TID: "t-2"})
	require.NoError(t, err)
	found, err = tbl.Lookup(ctx, "alice", "t-2")
	require.NoError(t, err)
	require.Equal(t, a2.ID, found.ID, "Bob's binding took Alice's TID")

	// Closing Bob's session releases his binding, not Alice's.
	require.NoError(t, tbl.Close(ctx, b2.ID))
	n, err := rdb.Exists(ctx, keys.TID("bob", "t-2"), keys.TID("alice", "t-2")).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	found, err = tbl.Lookup(ctx, "alice", "t-2")
	require.NoError(t, err)
	require.Equal(t, a2.ID, found.ID)

	_, err = tbl.Lookup(ctx, "bad owner", "t-1")
	require.ErrorIs(t, err, sessiontable.ErrInvalid)
}
