package leadership_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/leadership"
	"github.com/sessionq/sessionq/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// One candidate leads at a time; a resignation or an expired term lets the
// other take over; resigning a lease held by another changes nothing.
func TestClaimResignAndExpiry(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	a := leadership.New(rdb, "x", "a", 200*time.Millisecond)
	b := leadership.New(rdb, "x", "b", 200*time.Millisecond)
	lead, err := a.Claim(ctx)
	require.NoError(t, err)
	require.True(t, lead)
	lead, err = b.Claim(ctx)
	require.NoError(t, err)
	require.False(t, lead)
	require.NoError(t, b.Resign(ctx)) // not b's: nothing happens
	require.Equal(t, "a", rdb.Get(ctx, keys.Leader("x")).Val())
	lead, err = a.Claim(ctx) // renews
	require.NoError(t, err)
	require.True(t, lead)
	require.NoError(t, a.Resign(ctx))
	lead, err = b.Claim(ctx)
	require.NoError(t, err)
	require.True(t, lead)
	// b stops renewing: its term runs out and a takes over.
	require.Eventually(t, func() bool {
		lead, err := a.Claim(ctx)
		return err == nil && lead
	}, 2*time.Second, 20*time.Millisecond)
}
