package cli

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// A flag given empty or blank is an error that writes nothing, never a
// silent "none": S=$(failing command); sessionq submit --session "$S" must
// not drop the session.
func TestSubmitEmptyFlagValuesRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty session", []string{"--session", ""}, `invalid session ID "": must not be empty (omit --session to submit a job without a session)`},
		{"blank session", []string{"--session", " \t"}, `(omit --session to submit a job without a session)`},
		{"empty session, short flag", []string{"-s", ""}, `invalid session ID ""`},
		{"empty application ID", []string{"--session", "s", "--application-id", ""}, `invalid application ID ""`},
		{"empty idempotency key", []string{"--idempotency-key", ""}, `invalid job ID ""`},
		{"empty queue", []string{"--queue", ""}, `invalid queue ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb, url := redistest.Client(t)
			out, _, err := run(t, append([]string{"submit", "--redis", url, "--type", "t"}, tt.args...)...)
			require.ErrorContains(t, err, tt.want)
			require.Empty(t, out)
			n, err := rdb.DBSize(t.Context()).Result()
			require.NoError(t, err)
			require.Zero(t, n, "Redis was written to")
		})
	}
}

// --app still works but says it is deprecated. (Cobra prints the notice
// with OutOrStderr: standard error in the binary, where no output writer is
// set, but the test's output writer here.)
func TestSubmitAppFlagDeprecated(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	out, errOut, err := run(t, "submit", "--redis", url, "--type", "t", "--session", "s", "--app", "a1")
	require.NoError(t, err)
	require.Contains(t, out+errOut, "--app has been deprecated, use --application-id")
}

// An ID with a non-ASCII character is reported with the character, never
// as a garbled byte.
func TestNonASCIIIDsReportedReadably(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	_, _, err := run(t, "submit", "--redis", url, "--type", "t", "--session", "rapport-été")
	require.EqualError(t, err, `invalid session ID "rapport-été": character 'é' (U+00E9) at byte 8 is not allowed`)
	// A session table ID of the right length with a non-ASCII character.
	id := "sabcdefghijklmnopqrstuvwx" + "é"
	require.Len(t, id, 27)
	_, _, err = run(t, "session", "get", id, "--redis", url)
	require.ErrorContains(t, err, `character 'é' (U+00E9) at byte 25: want`)
	require.NotContains(t, err.Error(), "Ã")
}
