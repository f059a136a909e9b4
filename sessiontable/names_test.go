package sessiontable_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/sessiontable"
)

// File names that a command would take for an option, or that hold
// characters which make a name look like another (bidi controls,
// zero-width and other format characters, C0, DEL and C1 controls), are
// refused with a clear error and change nothing.
func TestFileNameRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, _ := newTable(t, sessiontable.Config{})
	id := create(t, tbl, sessiontable.Spec{})
	for name, want := range map[string]string{
		"-rf":                 "must not start with '-'",
		"--help":              "must not start with '-'",
		"-":                   "must not start with '-'",
		"report\u202etxt.exe": "format character U+202E",
		"a\u202ab":            "format character U+202A",
		"a\u2066b\u2069":      "format character U+2066",
		"a\u2069":             "format character U+2069",
		"a\u200eb":            "format character U+200E",
		"a\u200fb":            "format character U+200F",
		"zero\u200bwidth":     "format character U+200B",
		"zw\u200dj":           "format character U+200D",
		"bom\ufeff":           "format character U+FEFF",
		"bell\x07":            "control character U+0007",
		"del\x7f":             "control character U+007F",
		"c1\u0085":            "control character U+0085",
		"c1\u009b[2J":         "control character U+009B",
	} {
		err := tbl.PutFile(ctx, id, name, []byte("x"))
		require.ErrorIs(t, err, sessiontable.ErrInvalid, "%q", name)
		require.ErrorContains(t, err, want, "%q", name)
		require.ErrorContains(t, err, "invalid file name", "%q", name)
		require.ErrorIs(t, sessiontable.ValidateFileName(name), sessiontable.ErrInvalid, "%q", name)
	}
	fs, err := tbl.Files(ctx, id)
	require.NoError(t, err)
	require.Empty(t, fs)
	// A '-' inside a name, and letters of any script, are fine.
	for _, name := range []string{"a-b", "x-", "עברית.txt", "日本.csv", "café"} {
		require.NoError(t, sessiontable.ValidateFileName(name), name)
	}
}
