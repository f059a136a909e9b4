package sessiontable_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/sessiontable"
)

func TestFiles(t *testing.T) {
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		ctx := context.Background()
		tbl, _ := newTable(t, cfg)
		id := create(t, tbl, sessiontable.Spec{})

		fs, err := tbl.Files(ctx, id)
		require.NoError(t, err)
		require.Empty(t, fs)
		require.NoError(t, tbl.PutFile(ctx, id, "data.xml", []byte("<doc/>")))
		require.NoError(t, tbl.PutFile(ctx, id, "b.txt", []byte("b")))
		require.NoError(t, tbl.PutFile(ctx, id, "empty", nil))
		require.NoError(t, tbl.PutFile(ctx, id, "b.txt", []byte("bb")), "put replaces")
		b, err := tbl.File(ctx, id, "data.xml")
		require.NoError(t, err)
		require.Equal(t, "<doc/>", string(b))
		fs, err = tbl.Files(ctx, id)
		require.NoError(t, err)
		require.Equal(t, []sessiontable.FileInfo{{Name: "b.txt", Size: 2}, {Name: "data.xml", Size: 6}, {Name: "empty", Size: 0}}, fs)

		require.NoError(t, tbl.DeleteFile(ctx, id, "b.txt"))
		require.NoError(t, tbl.DeleteFile(ctx, id, "b.txt"), "deleting a missing file is not an error")
		_, err = tbl.File(ctx, id, "b.txt")
		require.ErrorIs(t, err, sessiontable.ErrFileNotFound)

		// No session, no files.
		other := sessiontable.NewID()
		require.ErrorIs(t, tbl.PutFile(ctx, other, "x", []byte("x")), sessiontable.ErrNotFound)
		_, err = tbl.Files(ctx, other)
		require.ErrorIs(t, err, sessiontable.ErrNotFound)
		if d, ok := cfg.Storage.(*sessiontable.DirStorage); ok {
			_, err := os.Stat(filepath.Join(d.Root(), other))
			require.ErrorIs(t, err, os.ErrNotExist, "a refused put left a directory")
		}
	})
}

// File names that could leave the session's directory are refused, with
// nothing written anywhere.
func TestFileNamesRefused(t *testing.T) {
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		ctx := context.Background()
		tbl, _ := newTable(t, cfg)
		id := create(t, tbl, sessiontable.Spec{})
		for _, name := range []string{
			"", ".", "..", "../escape", "../../etc/passwd", "/etc/passwd", "a/b", `a\b`, `..\x`,
			"nul\x00byte", "tab\tname", "new\nline", "\xff", strings.Repeat("n", 256),
		} {
			require.ErrorIs(t, tbl.PutFile(ctx, id, name, []byte("x")), sessiontable.ErrInvalid, "put %q", name)
			_, err := tbl.File(ctx, id, name)
			require.ErrorIs(t, err, sessiontable.ErrInvalid, "get %q", name)
			require.ErrorIs(t, tbl.DeleteFile(ctx, id, name), sessiontable.ErrInvalid, "delete %q", name)
		}
		fs, err := tbl.Files(ctx, id)
		require.NoError(t, err)
		require.Empty(t, fs)
		if d, ok := cfg.Storage.(*sessiontable.DirStorage); ok {
			ents, err := os.ReadDir(filepath.Dir(d.Root()))
			require.NoError(t, err)
			require.Len(t, ents, 1, "something was written beside the storage root")
			ents, err = os.ReadDir(d.Root())
			require.NoError(t, err)
			require.Len(t, ents, 1, "something was written in the storage root: %v", ents)
			require.Equal(t, ".staging", ents[0].Name())
		}
		// Names that look odd but stay inside are fine.
		for _, name := range []string{"..a", "a..", ".hidden", "a-dash", "sp ace", "ünï©ødé.txt", "a:b@c"} {
			require.NoError(t, tbl.PutFile(ctx, id, name, []byte(name)), name)
			b, err := tbl.File(ctx, id, name)
			require.NoError(t, err)
			require.Equal(t, name, string(b))
		}
	})
}

func TestFileLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, _ := newTable(t, sessiontable.Config{MaxFileSize: 10, MaxSessionBytes: 25, MaxFiles: 3})
	id := create(t, tbl, sessiontable.Spec{})
	err := tbl.PutFile(ctx, id, "big", make([]byte, 11))
	require.ErrorIs(t, err, sessiontable.ErrLimit)
	require.Contains(t, err.Error(), "file size: 11 is over the limit of 10")

	require.NoError(t, tbl.PutFile(ctx, id, "a", make([]byte, 10)))
	require.NoError(t, tbl.PutFile(ctx, id, "b", make([]byte, 10)))
	err = tbl.PutFile(ctx, id, "c", make([]byte, 6))
	require.ErrorIs(t, err, sessiontable.ErrLimit)
	require.Contains(t, err.Error(), "session file bytes: 26 is over the limit of 25")
	require.NoError(t, tbl.PutFile(ctx, id, "c", make([]byte, 5)))
	require.NoError(t, tbl.PutFile(ctx, id, "a", make([]byte, 4)), "replacing counts the difference")
	err = tbl.PutFile(ctx, id, "d", nil)
	require.ErrorIs(t, err, sessiontable.ErrLimit)
	require.Contains(t, err.Error(), "files: 4 is over the limit of 3")
	fs, err := tbl.Files(ctx, id)
	require.NoError(t, err)
	require.Equal(t, []sessiontable.FileInfo{{Name: "a", Size: 4}, {Name: "b", Size: 10}, {Name: "c", Size: 5}}, fs)
}
