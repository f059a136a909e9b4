package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// session pause, jobs, resume and skip, and the backlog cap, through the CLI
// on a real Redis (no worker: the jobs wait, so what the commands show is
// stable).
func TestSessionControlCommands(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	var ids []string
	for range 3 {
		out, _, err := run(t, "submit", "--redis", url, "--type", "doc", "--session", "ctl", "--max-backlog", "3")
		require.NoError(t, err)
		ids = append(ids, strings.TrimSpace(out))
	}
	_, _, err := run(t, "submit", "--redis", url, "--type", "doc", "--session", "ctl", "--max-backlog", "3")
	require.ErrorContains(t, err, "maximum backlog is 3")
	_, _, err = run(t, "submit", "--redis", url, "--type", "doc", "--session", "ctl", "--max-backlog", "0")
	require.ErrorContains(t, err, "invalid --max-backlog 0")

	out, errOut, err := run(t, "session", "jobs", "ctl", "--redis", url)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	require.Regexp(t, `^SEQ\s+JOB\s+TYPE\s+STATE\s+ATTEMPTS\s+WORKER$`, lines[0])
	for i, id := range ids {
		require.Regexp(t, `^`+string(rune('1'+i))+`\s+`+id+`\s+doc\s+(pending|parked)\s+0\s+-$`, lines[i+1])
	}
	require.Contains(t, errOut, "3 unfinished jobs in session ctl")

	out, _, err = run(t, "session", "pause", "ctl", "--redis", url)
	require.NoError(t, err)
	require.Equal(t, "paused\n", out)
	out, _, err = run(t, "session", "resume", "ctl", "--redis", url)
	require.NoError(t, err)
	require.Equal(t, "resumed\n", out)

	out, _, err = run(t, "session", "skip", "ctl", "--redis", url)
	require.NoError(t, err)
	require.Equal(t, ids[0]+"\n", out)
	out, _, err = run(t, "job", "get", ids[0], "--redis", url)
	require.NoError(t, err)
	require.Contains(t, out, `"state": "failed"`)
	_, _, err = run(t, "session", "skip", "nothing-here", "--redis", url)
	require.ErrorContains(t, err, "has no job to skip")
	_, _, err = run(t, "session", "pause", "", "--redis", url)
	require.Error(t, err)
}
