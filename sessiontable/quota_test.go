package sessiontable_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/sessiontable"
)

// An owner holds at most MaxSessionsPerOwner open sessions (a concurrent
// licence each); one more is a clear error.
func TestQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{MaxSessionsPerOwner: 2})
	sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
	require.NoError(t, err)
	a := create(t, tbl, sessiontable.Spec{Owner: "alice"})
	b, err := tbl.Create(ctx, sessiontable.Spec{Owner: "alice", IdleTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "alice", TID: "t"})
	require.ErrorIs(t, err, sessiontable.ErrQuota)
	require.EqualError(t, err, `owner "alice" has 2 open sessions, the most allowed: sessiontable: open session quota reached`)
	n, err := rdb.Exists(ctx, keys.TID("alice", "t")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "a refused creation bound its TID")
	create(t, tbl, sessiontable.Spec{Owner: "bob"})

	// Closing one frees its place.
	require.NoError(t, tbl.Close(ctx, a))
	c := create(t, tbl, sessiontable.Spec{Owner: "alice"})
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "alice"})
	require.ErrorIs(t, err, sessiontable.ErrQuota)

	// So does expiring, once swept.
	eventually(t, 5*time.Second, func() bool {
		_, err := tbl.Get(ctx, b.ID, sessiontable.OutOfSession())
		return errors.Is(err, sessiontable.ErrNotFound)
	}, "b to expire")
	_, err = sw.Sweep(ctx)
	require.NoError(t, err)
	create(t, tbl, sessiontable.Spec{Owner: "alice"})
	l, err := tbl.List(ctx, sessiontable.ListOptions{Owner: "alice"})
	require.NoError(t, err)
	require.Len(t, l, 2)
	require.Equal(t, c, l[0].ID)
}

// The quota holds under concurrent creations.
func TestQuotaConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, _ := newTable(t, sessiontable.Config{MaxSessionsPerOwner: 3})
	var ok, full atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := tbl.Create(ctx, sessiontable.Spec{Owner: "carol"})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, sessiontable.ErrQuota):
				full.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 3, ok.Load())
	require.EqualValues(t, 9, full.Load())
	l, err := tbl.List(ctx, sessiontable.ListOptions{Owner: "carol"})
	require.NoError(t, err)
	require.Len(t, l, 3)
}
