package gateway_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPythonClient runs the standard-library Python client of examples/
// against a gateway, when python3 exists.
func TestPythonClient(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	e := newEnv(t, envOptions{})
	tok := e.user("alice", aliceRights...)
	cmd := exec.CommandContext(t.Context(), py, "../examples/python/sessionq_client.py")
	cmd.Env = append(os.Environ(), "SESSIONQ_API_URL="+e.base, "SESSIONQ_TOKEN="+tok)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []string{"created", "without a TID: tid_required", "event job succeeded",
		`result {"ping": 1}`, `params {"lang": "en"}`, "after close: session_not_found"} {
		require.Contains(t, string(out), want)
	}
	t.Logf("%s", out)
}
