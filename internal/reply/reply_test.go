package reply

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConversions(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a", Str("a"))
	require.Equal(t, "42", Str(int64(42)))
	require.Equal(t, "", Str(nil))
	require.Equal(t, int64(42), Num(int64(42)))
	require.Equal(t, int64(-7), Num("-7"))
	require.Equal(t, int64(0), Num("x"))
	require.Equal(t, int64(0), Num(nil))
}
