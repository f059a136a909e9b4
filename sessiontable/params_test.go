package sessiontable_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/sessiontable"
)

func TestParams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, _ := newTable(t, sessiontable.Config{})
	id := create(t, tbl, sessiontable.Spec{Params: map[string]string{"my_stored_info": "3.14"}})

	v, err := tbl.Param(ctx, id, "my_stored_info")
	require.NoError(t, err)
	require.Equal(t, "3.14", v)

	require.NoError(t, tbl.SetParam(ctx, id, "lang", "en"))
	require.NoError(t, tbl.SetParams(ctx, id, map[string]string{"a/b": "multi\nline ✓", "empty": ""}))
	all, err := tbl.Params(ctx, id)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"my_stored_info": "3.14", "lang": "en", "a/b": "multi\nline ✓", "empty": ""}, all)

	require.NoError(t, tbl.DeleteParam(ctx, id, "lang"))
	require.NoError(t, tbl.DeleteParam(ctx, id, "never-set"), "deleting a missing parameter is not an error")
	_, err = tbl.Param(ctx, id, "lang")
	require.ErrorIs(t, err, sessiontable.ErrParamNotFound)

	// No session: not found, for reads and writes alike.
	other := sessiontable.NewID()
	_, err = tbl.Param(ctx, other, "x")
	require.ErrorIs(t, err, sessiontable.ErrNotFound)
	require.ErrorIs(t, tbl.SetParam(ctx, other, "x", "y"), sessiontable.ErrNotFound)
	require.ErrorIs(t, tbl.Close(ctx, id), nil)
	require.ErrorIs(t, tbl.SetParam(ctx, id, "x", "y"), sessiontable.ErrNotFound, "a closed session takes no parameters")
}

func TestParamLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{MaxParams: 3, MaxParamValue: 16, MaxApps: 2})
	id := create(t, tbl, sessiontable.Spec{Params: map[string]string{"a": "1", "b": "2"}})

	err := tbl.SetParam(ctx, id, "v", strings.Repeat("x", 17))
	require.ErrorIs(t, err, sessiontable.ErrLimit)
	require.ErrorIs(t, err, sessiontable.ErrInvalid)
	var le *sessiontable.LimitError
	require.ErrorAs(t, err, &le)
	require.EqualValues(t, 16, le.Limit)
	require.EqualValues(t, 17, le.Got)

	for _, k := range []string{"", "a=b", "sp ace", "{tag}", strings.Repeat("k", 129)} {
		require.ErrorIs(t, tbl.SetParam(ctx, id, k, "v"), sessiontable.ErrInvalid, "key %q", k)
	}
	require.ErrorIs(t, tbl.SetParam(ctx, id, "k", "bad \xff utf8"), sessiontable.ErrInvalid)

	// The count is checked in Redis, all or nothing: 2 + 2 new > 3.
	err = tbl.SetParams(ctx, id, map[string]string{"c": "3", "d": "4"})
	require.ErrorIs(t, err, sessiontable.ErrLimit)
	require.Contains(t, err.Error(), "parameters: 4 is over the limit of 3")
	all, err := tbl.Params(ctx, id)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, all, "a refused change wrote something")
	// Overwriting does not count; replacing one with a delete makes room.
	require.NoError(t, tbl.SetParams(ctx, id, map[string]string{"a": "10", "b": "20", "c": "30"}))
	require.NoError(t, tbl.DeleteParam(ctx, id, "c"))
	require.NoError(t, tbl.SetParam(ctx, id, "d", "40"))

	// Sub-sessions are capped too, each with its own parameter count.
	require.NoError(t, tbl.SetParams(ctx, id, map[string]string{"x": "1", "y": "2", "z": "3"}, sessiontable.Application("app1")))
	require.NoError(t, tbl.SetParam(ctx, id, "x", "1", sessiontable.Application("app2")))
	err = tbl.SetParam(ctx, id, "x", "1", sessiontable.Application("app3"))
	require.ErrorIs(t, err, sessiontable.ErrLimit)
	require.Contains(t, err.Error(), "sub-sessions: 3 is over the limit of 2")
	// Emptying a sub-session frees its place.
	require.NoError(t, tbl.DeleteParam(ctx, id, "x", sessiontable.Application("app2")))
	apps, err := rdb.SMembers(ctx, keys.SessionApps(id)).Result()
	require.NoError(t, err)
	require.Equal(t, []string{"app1"}, apps)
	require.NoError(t, tbl.SetParam(ctx, id, "x", "1", sessiontable.Application("app3")))
	require.ErrorIs(t, tbl.SetParam(ctx, id, "x", "1", sessiontable.Application("bad app")), sessiontable.ErrInvalid)
}

// A sub-session's parameters live in the sub-session; reads fall back to
// the parent's.
func TestSubSessionFallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, _ := newTable(t, sessiontable.Config{})
	id := create(t, tbl, sessiontable.Spec{Params: map[string]string{"color": "red", "size": "L"}})
	app := sessiontable.Application("checkout")

	v, err := tbl.Param(ctx, id, "color", app)
	require.NoError(t, err)
	require.Equal(t, "red", v, "falls back to the parent")

	require.NoError(t, tbl.SetParam(ctx, id, "color", "blue", app))
	require.NoError(t, tbl.SetParam(ctx, id, "step", "2", app))
	v, err = tbl.Param(ctx, id, "color", app)
	require.NoError(t, err)
	require.Equal(t, "blue", v, "the sub-session's value wins")
	v, err = tbl.Param(ctx, id, "color")
	require.NoError(t, err)
	require.Equal(t, "red", v, "the parent is unchanged")
	_, err = tbl.Param(ctx, id, "step")
	require.ErrorIs(t, err, sessiontable.ErrParamNotFound, "the parent does not see its sub-session's parameters")

	all, err := tbl.Params(ctx, id, app)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"color": "blue", "size": "L", "step": "2"}, all)
	other, err := tbl.Params(ctx, id, sessiontable.Application("other"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"color": "red", "size": "L"}, other, "sub-sessions are separate")

	// Deleting in the sub-session shows the parent's value again.
	require.NoError(t, tbl.DeleteParam(ctx, id, "color", app))
	v, err = tbl.Param(ctx, id, "color", app)
	require.NoError(t, err)
	require.Equal(t, "red", v)
	// A parent change shows through where the sub-session has no value.
	require.NoError(t, tbl.SetParam(ctx, id, "size", "XL"))
	v, err = tbl.Param(ctx, id, "size", app)
	require.NoError(t, err)
	require.Equal(t, "XL", v)
}
