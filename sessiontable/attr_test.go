package sessiontable_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/sessiontable"
)

func TestAttrs(t *testing.T) {
	t.Parallel()
	tbl, rdb := newTable(t, sessiontable.Config{})
	ctx := context.Background()
	id := create(t, tbl, sessiontable.Spec{Owner: "alice"})
	in, _ := tbl.Get(ctx, id, sessiontable.OutOfSession())
	require.NoError(t, tbl.SetAttr(ctx, id, "opener", "ops"))
	got, attrs, err := tbl.GetAttrs(ctx, id, sessiontable.OutOfSession())
	require.NoError(t, err)
	require.Equal(t, map[string]string{"opener": "ops"}, attrs)
	require.Equal(t, in.LastAccess, got.LastAccess, "SetAttr leaves the idle timer alone")
	p, err := tbl.Params(ctx, id)
	require.NoError(t, err)
	require.Empty(t, p, "an attribute is no parameter")

	// No session: an error, and nothing written.
	gone := sessiontable.NewID()
	require.ErrorIs(t, tbl.SetAttr(ctx, gone, "opener", "ops"), sessiontable.ErrNotFound)
	require.Empty(t, sessionKeys(t, rdb, gone))
	require.ErrorIs(t, tbl.SetAttr(ctx, id, "bad key!", "x"), sessiontable.ErrInvalid)

	// Attributes end with the session.
	require.NoError(t, tbl.Close(ctx, id))
	_, _, err = tbl.GetAttrs(ctx, id)
	require.ErrorIs(t, err, sessiontable.ErrNotFound)
	require.ErrorIs(t, tbl.SetAttr(ctx, id, "opener", "ops"), sessiontable.ErrNotFound)
	n, err := rdb.Exists(ctx, keys.Session(id)).Result()
	require.NoError(t, err)
	require.Zero(t, n, "no bare record brought back")
}
