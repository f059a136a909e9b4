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
	require.Equal(t, `byte 1 ('a') is not allowed`, Name("1a", 3, digit))
	require.Equal(t, strings.Repeat("x", 64)+"...", Cut(strings.Repeat("x", 70)))
	require.Equal(t, "short", Cut("short"))
}
