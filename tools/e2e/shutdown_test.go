package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// SIGTERM to a worker process whose job outlives the grace period: the
// command is killed, the job is handed back with no attempt charged, and
// another worker runs it to success, before the session's next job.
func TestSIGTERMHandsBackRunningJob(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	job := filepath.Join(dir, "job.sh")
	// The first run of job 1 hangs; every other run is quick.
	require.NoError(t, os.WriteFile(job, []byte(fmt.Sprintf(`#!/bin/sh
echo "$SESSIONQ_SEQ $SESSIONQ_ATTEMPT $PPID $$" >> %s
if [ "$SESSIONQ_SEQ" = 1 ] && [ ! -e %s/hung ]; then touch %s/hung; sleep 300; fi
`, runs, dir, dir)), 0o755))
	args := []string{"worker", "--redis", url, "--concurrency", "2", "--shutdown-grace", "500ms", "--exec", "doc=" + job}
	w1 := start(t, "worker-1", args...).ready(t, "worker started")
	c := client(t, rdb)
	a, err := c.Submit(ctx, "doc", nil, jobs.Session("term"))
	require.NoError(t, err)
	b, err := c.Submit(ctx, "doc", nil, jobs.Session("term"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(dir, "hung")); return err == nil }, 20*time.Second, 10*time.Millisecond)
	first := strings.Fields(readString(t, runs))
	require.Len(t, first, 4)
	var hungPid int
	_, err = fmt.Sscan(first[3], &hungPid)
	require.NoError(t, err)

	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w1.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the worker did not stop after SIGTERM")
	}
	require.Contains(t, w1.output(), "job handed back")
	require.Eventually(t, func() bool { return gone(hungPid) }, 5*time.Second, 20*time.Millisecond, "the hung command outlived the shutdown")
	in, err := c.Get(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateWaitingForHandler, in.State, "no live worker handles its type now")
	require.Equal(t, 0, in.Attempts, "a hand-back is not an attempt")

	start(t, "worker-2", args...).ready(t, "worker started")
	infos := waitAll(t, c, []string{a.ID, b.ID}, 30*time.Second)
	require.Equal(t, jobs.StateSucceeded, infos[a.ID].State)
	require.Equal(t, 1, infos[a.ID].Attempts)
	require.Equal(t, jobs.StateSucceeded, infos[b.ID].State)
	lines := strings.Split(strings.TrimSpace(readString(t, runs)), "\n")
	require.Len(t, lines, 3)
	require.True(t, strings.HasPrefix(lines[1], "1 1 "), "job 1 ran again first, as attempt 1: %q", lines[1])
	require.True(t, strings.HasPrefix(lines[2], "2 1 "), "then job 2: %q", lines[2])
}
