package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestName(t *testing.T) {
	t.Parallel()
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	require.Empty(t, Name("123", 3, digit))
	require.Equal(t, "must not be empty", Name("", 3, digit))
	require.Equal(t, "longer than 3 bytes", Name("1234", 3, digit))
	require.Equal(t, `character 'a' at byte 1 is not allowed`, Name("1a", 3, digit))
	require.Equal(t, `character ' ' at byte 0 is not allowed`, Name(" ", 3, digit))
	require.Equal(t, `character '\n' at byte 1 is not allowed`, Name("1\n", 3, digit))
	require.Equal(t, strings.Repeat("x", 64)+"...", Cut(strings.Repeat("x", 70)))
	require.Equal(t, "short", Cut("short"))
}

// A non-ASCII character is reported as the character, never as one byte
// of its encoding (byte 1 ('Ã')).
func TestNameNonASCII(t *testing.T) {
	t.Parallel()
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	require.Equal(t, `character 'é' (U+00E9) at byte 1 is not allowed`, Name("1é", 8, digit))
	require.Equal(t, `character '日' (U+65E5) at byte 0 is not allowed`, Name("日", 8, digit))
	require.Equal(t, `byte 1 (0xff, not UTF-8) is not allowed`, Name("1\xff", 8, digit))
	// Cut does not split a character: 63 x and a 2-byte é straddle byte 64.
	cut := Cut(strings.Repeat("x", 63) + "é" + strings.Repeat("y", 10))
	require.Equal(t, strings.Repeat("x", 63)+"...", cut)
}
