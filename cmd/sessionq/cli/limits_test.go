package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/worker"
)

// The session limits have defaults (24h idle, 720h lifetime, 1000 per
// owner) that the session section raises; none can be turned off.
func TestSessionLimitsConfig(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	_, _, err := run(t, "--redis", url, "session", "create", "--idle-timeout", "25h")
	require.ErrorContains(t, err, `invalid idle timeout "25h0m0s": want 10ms to 24h0m0s (the max idle timeout)`)
	_, _, err = run(t, "--redis", url, "session", "create", "--lifetime", "721h")
	require.ErrorContains(t, err, `invalid lifetime "721h0m0s": want 10ms to 720h0m0s (the max lifetime)`)
	_, _, err = run(t, "--redis", url, "session", "create", "--lifetime", "0s")
	require.ErrorContains(t, err, "invalid --lifetime 0s: must be positive")
	n, err := rdb.DBSize(t.Context()).Result()
	require.NoError(t, err)
	require.Zero(t, n, "refused creations wrote keys")
	out, _, err := run(t, "--redis", url, "session", "create")
	require.NoError(t, err)
	out, _, err = run(t, "--redis", url, "session", "get", strings.TrimSpace(out))
	require.NoError(t, err)
	require.Contains(t, out, `"deadline"`, "every session has a lifetime")

	dir := t.TempDir()
	raised := filepath.Join(dir, "raised.yaml")
	require.NoError(t, os.WriteFile(raised, []byte("session:\n  max_idle_timeout: 48h\n  max_lifetime: 2000h\n  lifetime: 1000h\n"), 0o600))
	_, _, err = run(t, "--redis", url, "--config", raised, "session", "create", "--idle-timeout", "25h", "--lifetime", "1500h")
	require.NoError(t, err)

	bad := filepath.Join(dir, "bad.yaml")
	for yaml, want := range map[string]string{
		"session:\n  max_per_owner: 0\n":           "session.max_per_owner 0: must be positive (there is no unlimited",
		"session:\n  max_idle_timeout: 0s\n":       "session.max_idle_timeout 0s: must be positive",
		"session:\n  max_lifetime: 0s\n":           "session.max_lifetime 0s: must be positive",
		"session:\n  idle_timeout: 25h\n":          "sessiontable: idle timeout 25h0m0s out of range",
		"session:\n  lifetime: 721h\n":             "sessiontable: lifetime 721h0m0s out of range",
		"session:\n  max_idle_timeout: 87600h1s\n": "sessiontable: max idle timeout",
	} {
		require.NoError(t, os.WriteFile(bad, []byte(yaml), 0o600))
		_, _, err := run(t, "--redis", url, "--config", bad, "session", "list")
		require.ErrorContains(t, err, want, yaml)
	}
}

// worker.exec_stderr_log (--exec-stderr-log) reaches the worker's
// configuration; a level that does not exist is refused.
func TestExecStderrLogFlag(t *testing.T) {
	t.Parallel()
	c, err := probeConfig(t)
	require.NoError(t, err)
	require.Equal(t, worker.DefaultExecStderrLog, c.Worker.ExecStderrLog)
	for _, lvl := range []string{"off", "info", "error"} {
		c, err = probeConfig(t, "--exec-stderr-log", lvl)
		require.NoError(t, err)
		require.Equal(t, lvl, c.Worker.workerConfig().ExecStderrLog)
	}
	_, err = probeConfig(t, "--exec-stderr-log", "loud")
	require.ErrorContains(t, err, `worker.exec_stderr_log "loud": want off, debug, info, warn or error`)
	_, _, err = run(t, "worker", "--exec", "echo=cat", "--exec-stderr-log", "loud")
	require.ErrorContains(t, err, `worker.exec_stderr_log "loud"`)
	_, _, err = run(t, "dev", "--exec-stderr-log", "loud")
	require.ErrorContains(t, err, `worker.exec_stderr_log "loud"`)
}
