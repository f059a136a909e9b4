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
	"github.com/sessionq/sessionq/sessiontable"
)

// A worker paused (SIGSTOP) past its lease loses the session: another
// worker runs the job again with a larger fencing token. When the paused
// worker wakes up it finds its lease lost, by whichever comes first: the
// overdue renewal, which cancels the run, or the write-back, which the token
// check refuses (sessiontable's TestStaleTokenRefused covers that check on
// its own). Either way the session's file keeps the second run's write.
// With both the renewal's loss detection and the token check removed, this
// test fails.
func TestPausedWorkerIsFenced(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	startedFile := filepath.Join(dir, "started")
	job := filepath.Join(dir, "job.sh")
	// Each run records its token, writes it into the session, and takes
	// long enough to be paused in the middle on the first attempt.
	require.NoError(t, os.WriteFile(job, []byte(fmt.Sprintf(`#!/bin/sh
echo "$SESSIONQ_FENCING_TOKEN $PPID" >> %s
echo "$SESSIONQ_FENCING_TOKEN" > "$SESSIONQ_SESSION_DIR/owner.txt"
if [ "$SESSIONQ_ATTEMPT" = 1 ]; then sleep 5; fi
`, startedFile)), 0o755))
	args := []string{"worker", "--redis", url, "--concurrency", "1", "--lease", "2s", "--exec", "doc=" + job}
	w1 := start(t, "worker-1", args...).ready(t, "worker started")
	start(t, "scheduler", "scheduler", "--redis", url, "--interval", "100ms", "--dispatch-grace", "1s").ready(t, "scheduler started")
	tbl, err := sessiontable.New(rdb, sessiontable.Config{})
	require.NoError(t, err)
	s, err := tbl.Create(ctx, sessiontable.Spec{})
	require.NoError(t, err)
	c := client(t, rdb)
	sub, err := c.Submit(ctx, "doc", nil, jobs.Session(s.ID), jobs.MaxRetry(3))
	require.NoError(t, err)

	// Pause worker 1 as soon as its run has started.
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(startedFile)
		return len(b) > 0
	}, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGSTOP))
	w2 := start(t, "worker-2", args...).ready(t, "worker started")
	// Worker 2 runs the job again under a larger token while 1 sleeps.
	infos := waitAll(t, c, []string{sub.ID}, 30*time.Second)
	in := infos[sub.ID]
	require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
	runs := strings.Split(strings.TrimSpace(readString(t, startedFile)), "\n")
	require.Len(t, runs, 2, "one run on each worker: %v", runs)
	var tok1, tok2, pid1, pid2 int
	_, err = fmt.Sscan(runs[0], &tok1, &pid1)
	require.NoError(t, err)
	_, err = fmt.Sscan(runs[1], &tok2, &pid2)
	require.NoError(t, err)
	require.Equal(t, w1.pid(), pid1)
	require.Equal(t, w2.pid(), pid2)
	require.Greater(t, tok2, tok1)
	require.EqualValues(t, tok2, in.FencingTok)

	// Worker 1 wakes up: its lease is gone, its run is cancelled and its
	// write-back refused; the session keeps the second run's write.
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool {
		return strings.Contains(w1.output(), "session lease lost")
	}, 10*time.Second, 20*time.Millisecond, "the paused worker never noticed its lost lease")
	owner, err := tbl.File(ctx, s.ID, "owner.txt")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(tok2), strings.TrimSpace(string(owner)))
	in, err = c.Get(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateSucceeded, in.State)
	require.EqualValues(t, tok2, in.FencingTok)
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
