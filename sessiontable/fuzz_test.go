package sessiontable_test

import (
	"encoding/base32"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/sessiontable"
)

// FuzzInputs throws arbitrary strings at everything that reads untrusted
// input: session IDs, TIDs and owners, file names, CLI parameters
// (key=value) and a job's parameters file. Whatever is accepted must be
// safe: IDs round-trip, names are flat and stay inside a directory, and
// parameters survive a round trip through the file.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func FuzzInputs(f *testing.F) {
	for _, s := range []string{
		sessiontable.NewID(), "saaaaaaaaaaaaaaaaaaaaaaaaaa", "saaaaaaaaaaaaaaaaaaaaaaaaab", "s\raaaaaaaaaaaaaaaaaaaaaaaaa", "term-1", "alice@example.com",
		"data.xml", "..", ".", "../x", "/etc/passwd", `a\b`, "a/b", "nul\x00", "ünï©ødé", "\xff",
		"-rf", "a\u202etxt.exe", "a\u200bb", "\u2066x\u2069", "a\u0085b",
		"k=v", "a/b=multi\nline", "=v", "k=", "k=\xff",
		`{"k": "v"}`, `{"k": 1}`, `{"a=b": "v"}`, `{"k": null}`, `[]`, `null`, `{"k": "v"} x`, `{"k":"\ud800"}`,
	} {
		f.Add(s)
	}
	root := filepath.Join(string(filepath.Separator), "sessions", "S")
	f.Fuzz(func(t *testing.T, s string) {
		if sessiontable.ValidateID(s) == nil {
			require.Equal(t, byte('s'), s[0])
			b, err := idEncoding.DecodeString(s[1:])
			require.NoError(t, err)
			require.Len(t, b, 16)
			require.Equal(t, s, "s"+idEncoding.EncodeToString(b), "two IDs for one session")
			require.NotContains(t, s, "-")
		}
		for _, check := range []func(string) error{sessiontable.ValidateTID, sessiontable.ValidateOwner} {
			if check(s) == nil {
				require.NotEmpty(t, s)
				require.LessOrEqual(t, len(s), 128)
				require.False(t, strings.ContainsAny(s, "{}| \x00/"), "a key builder or index entry could break on %q", s)
			}
		}
		if sessiontable.ValidateFileName(s) == nil {
			require.True(t, filepath.IsLocal(s))
			require.Equal(t, s, filepath.Base(s), "not flat: %q", s)
			require.Equal(t, root, filepath.Dir(filepath.Join(root, s)), "%q leaves the directory", s)
			require.False(t, strings.ContainsAny(s, "/\\\x00\n"))
			require.True(t, utf8.ValidString(s))
			require.NotEqual(t, byte('-'), s[0], "a name a command reads as an option")
			for _, r := range s {
				require.False(t, unicode.IsControl(r) || unicode.Is(unicode.Cf, r), "%q holds %U", s, r)
			}
		}
		if k, v, err := sessiontable.ParseParam(s); err == nil {
			require.Equal(t, s, k+"="+v)
			require.NoError(t, sessiontable.ValidateParamKey(k))
			require.NotContains(t, k, "=")
			require.True(t, utf8.ValidString(v))
		}
		if m, err := sessiontable.ParseParamsFile([]byte(s), 64); err == nil {
			for k, v := range m {
				require.NoError(t, sessiontable.ValidateParamKey(k))
				require.NoError(t, sessiontable.ValidateParamValue(v, 64))
			}
			b, err := json.Marshal(m)
			require.NoError(t, err)
			again, err := sessiontable.ParseParamsFile(b, 64)
			require.NoError(t, err)
			require.Equal(t, m, again)
		}
	})
}
