package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/redistest"
)

// job cancel ends a waiting job cancelled; job dead lists nothing yet.
func TestJobCancelAndDead(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	out, _, err := run(t, "submit", "--redis", url, "--type", "t", "--session", "s1", "--payload", "p")
	require.NoError(t, err)
	id := strings.TrimSpace(out)
	out, _, err = run(t, "job", "cancel", id, "--redis", url)
	require.NoError(t, err)
	require.Equal(t, "cancelled\n", out)
	out, _, err = run(t, "job", "get", id, "--redis", url)
	require.NoError(t, err)
	var in api.Job
	require.NoError(t, json.Unmarshal([]byte(out), &in))
	require.Equal(t, api.StateCancelled, in.State)

	_, _, err = run(t, "job", "cancel", "jnosuchjob", "--redis", url)
	require.ErrorContains(t, err, "not found")
	_, _, err = run(t, "job", "cancel", "a{b", "--redis", url)
	require.ErrorContains(t, err, "invalid job ID")

	out, _, err = run(t, "job", "dead", "--redis", url, "--json")
	require.NoError(t, err)
	require.Empty(t, out, "an empty list is nothing with --json")
	out, _, err = run(t, "job", "dead", "--redis", url)
	require.NoError(t, err)
	require.Regexp(t, `^ID +QUEUE +TYPE +SESSION +ATTEMPTS +FINISHED +LAST ERROR\n$`, out, "and the header alone without")
	_, _, err = run(t, "job", "dead", "--limit", "0", "--redis", url)
	require.ErrorContains(t, err, "--limit 0")
}
