package chaos

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// jobrec records its runs, and the Watcher gives a killed run the time its
// process was seen gone.
func TestJobrecAndWatcher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "runs.log")
	exe := strings.Fields(strings.TrimPrefix(Jobrec(t, "doc", log), "doc="))
	w := Watch(log, 0)
	defer w.Stop()

	run := func(payload string, env ...string) *exec.Cmd {
		cmd := exec.Command(exe[0], exe[1:]...)
		cmd.Stdin = strings.NewReader(payload)
		cmd.Env = append(os.Environ(), env...)
		require.NoError(t, cmd.Start())
		return cmd
	}
	quick := run("10ms", "SESSIONQ_JOB_ID=j1", "SESSIONQ_SESSION_ID=s", "SESSIONQ_SEQ=1", "SESSIONQ_ATTEMPT=1")
	require.NoError(t, quick.Wait())
	long := run("1h", "SESSIONQ_JOB_ID=j2", "SESSIONQ_SEQ=0", "SESSIONQ_ATTEMPT=2")
	require.Eventually(t, func() bool {
		rs, err := w.Runs()
		require.NoError(t, err)
		return len(rs) == 2
	}, 10*time.Second, 5*time.Millisecond)
	rs, err := w.Runs()
	require.NoError(t, err)
	require.True(t, rs[1].Alive())
	require.True(t, rs[1].End.IsZero())
	killed := time.Now()
	require.NoError(t, long.Process.Signal(syscall.SIGKILL))
	_ = long.Wait()
	require.Eventually(t, func() bool {
		rs, _ := w.Runs()
		return !rs[1].End.IsZero()
	}, 10*time.Second, 5*time.Millisecond)
	rs, err = w.Stop()
	require.NoError(t, err)
	require.Len(t, rs, 2)
	require.Equal(t, "j1", rs[0].Job)
	require.Equal(t, "s", rs[0].Session)
	require.EqualValues(t, 1, rs[0].Seq)
	require.True(t, rs[0].Completed)
	require.Equal(t, os.Getpid(), rs[0].Worker)
	require.GreaterOrEqual(t, rs[0].End.Sub(rs[0].Start), 10*time.Millisecond)
	require.Equal(t, "j2", rs[1].Job)
	require.Equal(t, "", rs[1].Session)
	require.Equal(t, 2, rs[1].Attempt)
	require.False(t, rs[1].Completed)
	require.False(t, rs[1].End.Before(killed), "a killed run ends when it was seen gone")

	// ReadRuns reads the same log after the fact.
	again, err := ReadRuns(log, time.Now())
	require.NoError(t, err)
	require.Len(t, again, 2)
	require.True(t, again[0].Completed)
}
