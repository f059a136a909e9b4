//go:build linux

package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewExecHandlerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command string
		opts    ExecOptions
		want    string
	}{
		{"empty", "", ExecOptions{}, "empty"},
		{"blank", " \t\n", ExecOptions{}, "empty"},
		{"unbalanced quote", `echo 'abc`, ExecOptions{}, "invalid command line"},
		{"sequence", "echo a; rm -rf /tmp/x", ExecOptions{}, "shell operator"},
		{"pipe", "cat | sh", ExecOptions{}, "shell operator"},
		{"redirect", "echo a > /tmp/x", ExecOptions{}, "shell operator"},
		{"background", "sleep 1 &", ExecOptions{}, "shell operator"},
		{"leading assignment", "LANG=C sort", ExecOptions{}, "leading assignment"},
		{"negative max output", "cat", ExecOptions{MaxOutput: -1}, "max output"},
		{"negative stderr tail", "cat", ExecOptions{StderrTail: -1}, "stderr tail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := NewExecHandler(tt.command, tt.opts)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, h)
		})
	}
}

func TestExecHandlerParsesWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, command, want string
	}{
		{"quoted operators are words", `printf '%s|%s;%s' "a b" 'c>d' e\&f`, "a b|c>d;e&f"},
		// No shell: nothing is expanded, by the parser or anyone else.
		{"no expansion", "echo $HOME ${HOME} $(id) `id` ~ *", "$HOME ${HOME} $(id) `id` ~ *\n"},
		{"assignment after the command is an argument", "echo LANG=C", "LANG=C\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := runExec(t, tt.command, ExecOptions{}, &Job{ID: "w"})
			require.Equal(t, tt.want, string(job.Result()))
		})
	}
}

func TestExecHandlerSuccess(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, more than a pipe holds
	dir := t.TempDir()
	tests := []struct {
		name    string
		command string
		opts    ExecOptions
		payload []byte
		want    []byte
	}{
		{"cat echoes the payload", "cat", ExecOptions{}, []byte("hello\x00world\n"), []byte("hello\x00world\n")},
		{"empty payload", "cat", ExecOptions{}, nil, nil},
		{"stdout capped at the default", "cat", ExecOptions{}, big, big[:64<<10]},
		{"stdout capped at MaxOutput", "head -c 100000 /dev/zero", ExecOptions{MaxOutput: 10}, nil, make([]byte, 10)},
		{"payload not read", "true", ExecOptions{}, big, nil},
		{"working directory", "pwd", ExecOptions{Dir: dir}, nil, []byte(dir + "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := runExec(t, tt.command, tt.opts, &Job{ID: "s", Payload: tt.payload})
			require.Equal(t, len(tt.want), len(job.Result()))
			require.True(t, bytes.Equal(tt.want, job.Result()), "result %.80q", job.Result())
		})
	}
}

func TestExecHandlerEnv(t *testing.T) {
	t.Parallel()
	const command = `sh -c 'printf "%s\n" "$SESSIONQ_JOB_ID" "$SESSIONQ_JOB_TYPE" "$SESSIONQ_SESSION_ID" ` +
		`"$SESSIONQ_SESSION_ACTIVE" "$SESSIONQ_FENCING_TOKEN" "$SESSIONQ_ATTEMPT" "$SESSIONQ_APPLICATION_ID" ` +
		`"$SESSIONQ_QUEUE" "$SESSIONQ_SEQ" "$FROM_ATTACHMENT" "$PATH"'`
	path := os.Getenv("PATH")
	tests := []struct {
		name string
		job  *Job
		want []string
	}{
		{
			name: "session job",
			job: &Job{
				ID: "j1", Type: "render", Queue: "q1", SessionID: "s1", AppID: "app", Active: true,
				Seq: 7, Attempt: 2, FencingToken: 42,
				// The attachment adds variables but cannot overwrite the job's.
				env: []string{"FROM_ATTACHMENT=x y", "SESSIONQ_JOB_ID=spoofed", "SESSIONQ_FENCING_TOKEN=999"},
			},
			want: []string{"j1", "render", "s1", "true", "42", "2", "app", "q1", "7", "x y", path},
		},
		{
			name: "job without a session",
			job:  &Job{ID: "j2", Type: "plain", Queue: "default", Attempt: 1},
			want: []string{"j2", "plain", "", "false", "0", "1", "", "default", "0", "", path},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := runExec(t, command, ExecOptions{}, tt.job)
			require.Equal(t, strings.Join(tt.want, "\n")+"\n", string(job.Result()))
		})
	}
}

func TestExecHandlerFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		command  string
		opts     ExecOptions
		contains []string
		excludes []string
		exitCode int
	}{
		{
			name:     "exit status and stderr",
			command:  `sh -c 'echo partial; echo "  boom  " >&2; exit 3'`,
			contains: []string{"exec sh: exit status 3; stderr: boom"},
			exitCode: 3,
		},
		{
			name:     "stderr tail only",
			command:  `sh -c 'echo first-line >&2; echo tail-end >&2; exit 1'`,
			opts:     ExecOptions{StderrTail: 9},
			contains: []string{"exit status 1", "stderr: ...tail-end"},
			excludes: []string{"first"},
			exitCode: 1,
		},
		{
			name:     "no stderr",
			command:  "false",
			contains: []string{"exec false: exit status 1"},
			excludes: []string{"stderr"},
			exitCode: 1,
		},
		{
			name:     "killed by a signal",
			command:  `sh -c 'kill -9 $$'`,
			contains: []string{"signal: killed"},
			exitCode: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := NewExecHandler(tt.command, tt.opts)
			require.NoError(t, err)
			job := &Job{ID: "f"}
			err = h.Process(t.Context(), job)
			require.Error(t, err)
			for _, s := range tt.contains {
				require.ErrorContains(t, err, s)
			}
			for _, s := range tt.excludes {
				require.NotContains(t, err.Error(), s)
			}
			require.NotErrorIs(t, err, ErrSkipRetry, "a failed run is retried")
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, tt.exitCode, ee.ExitCode())
			require.Nil(t, job.Result(), "a failed run has no result")
		})
	}
}

func TestExecHandlerCannotStart(t *testing.T) {
	t.Parallel()
	notExec := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	tests := []struct {
		name    string
		command string
		opts    ExecOptions
		want    string
	}{
		{"not in PATH", "sessionq-no-such-command --flag", ExecOptions{}, "executable file not found"},
		{"no such file", "/nonexistent/sessionq/bin", ExecOptions{}, "no such file"},
		{"not executable", notExec, ExecOptions{}, "permission denied"},
		{"no such directory", "true", ExecOptions{Dir: "/nonexistent/sessionq/dir"}, "working directory: stat /nonexistent/sessionq/dir: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := NewExecHandler(tt.command, tt.opts)
			require.NoError(t, err, "the command is looked for when a job runs")
			err = h.Process(t.Context(), &Job{ID: "n"})
			require.ErrorIs(t, err, ErrSkipRetry, "retrying cannot help")
			require.ErrorContains(t, err, "cannot start command")
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestExecHandlerCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	h, err := NewExecHandler(`sh -c 'sleep 300 & echo $$ $! > "$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"; wait'`, ExecOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	errc := make(chan error, 1)
	go func() { errc <- h.Process(ctx, &Job{ID: "c", env: []string{"PIDFILE=" + pidFile}}) }()

	pids := waitForPIDs(t, pidFile, 2)
	for _, pid := range pids {
		require.False(t, processGone(pid), "pid %d", pid)
	}
	cancel(ErrLeaseLost)
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("Process did not return after its context was cancelled")
	}
	require.ErrorIs(t, err, ErrLeaseLost)
	require.ErrorContains(t, err, "cancelled, process group killed")
	for _, pid := range pids { // sh, then its child sleep
		require.Eventually(t, func() bool { return processGone(pid) }, 5*time.Second, 10*time.Millisecond,
			"pid %d survived the cancellation", pid)
	}
}

func TestExecHandlerKillsLeftoversOnExit(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	h, err := NewExecHandler(`sh -c 'sleep 300 & echo $! > "$PIDFILE"'`, ExecOptions{})
	require.NoError(t, err)
	err = h.Process(t.Context(), &Job{ID: "l", env: []string{"PIDFILE=" + pidFile}})
	pid := readPIDs(t, pidFile, 1)[0]
	// Without the kill at exit, the sleep would hold stdout open and Process
	// would fail with exec.ErrWaitDelay.
	require.NoError(t, err)
	require.Eventually(t, func() bool { return processGone(pid) }, 5*time.Second, 10*time.Millisecond,
		"pid %d, left running by a finished command, survived", pid)
}

func TestExecHandlerEscapedProcessHoldingStdout(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The sleep leaves the process group (setsid) keeping the command's
	// stdout; the command waits until it has left, then exits.
	h, err := NewExecHandler(`sh -c 'setsid sh -c "$INNER" & while [ ! -s "$PIDFILE" ]; do :; done'`, ExecOptions{})
	require.NoError(t, err)
	h.(*execHandler).waitDelay = 100 * time.Millisecond
	job := &Job{ID: "e", env: []string{"PIDFILE=" + pidFile, `INNER=echo $$ > "$PIDFILE"; exec sleep 300`}}
	err = h.Process(t.Context(), job)
	pid := readPIDs(t, pidFile, 1)[0]
	require.ErrorIs(t, err, exec.ErrWaitDelay, "Wait must not hang on the escaped process")
	require.ErrorContains(t, err, "kept stdout or stderr open")
	require.False(t, processGone(pid), "a process outside the group is not the handler's to kill")
}

// TestExecHandlerDiesWithWorker kills a worker (a helper process running an
// exec handler) with SIGKILL and checks that the command dies with it.
func TestExecHandlerDiesWithWorker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	logFile, err := os.Create(filepath.Join(dir, "helper.log"))
	require.NoError(t, err)
	defer logFile.Close()
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
	helper.Env = append(os.Environ(), "GO_WANT_HELPER_PROCESS=1", "EXEC_TEST_PIDFILE="+pidFile)
	helper.Stdout, helper.Stderr = logFile, logFile
	require.NoError(t, helper.Start())
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = helper.Process.Kill()
			_ = helper.Wait()
		}
	})
	helperLog := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }

	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err == nil {
			pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "the helper did not start its command")
	killOnCleanup(t, pid)
	require.False(t, processGone(pid), "the command is not running; helper output:\n%s", helperLog())

	require.NoError(t, helper.Process.Signal(syscall.SIGKILL))
	err = helper.Wait()
	waited = true
	require.ErrorContains(t, err, "signal: killed", "helper output:\n%s", helperLog())
	require.Eventually(t, func() bool { return processGone(pid) }, 5*time.Second, 10*time.Millisecond,
		"the command (pid %d) outlived its worker killed with SIGKILL", pid)
}

// TestHelperProcess is the worker that TestExecHandlerDiesWithWorker kills;
// it runs only in the process that test starts.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("GO_WANT_HELPER_PROCESS") != "1" {
		t.Skip("helper process of TestExecHandlerDiesWithWorker")
	}
	// sh writes its pid, then execs into sleep, which keeps it: the pid is
	// that of the handler's direct child.
	h, err := NewExecHandler(`sh -c 'echo $$ > "$EXEC_TEST_PIDFILE.tmp" && mv "$EXEC_TEST_PIDFILE.tmp" "$EXEC_TEST_PIDFILE"; exec sleep 300'`, ExecOptions{})
	require.NoError(t, err)
	err = h.Process(context.Background(), &Job{ID: "helper"})
	t.Fatalf("the command ended before this process was killed: %v", err)
}

func TestExecTailBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"nothing", 8, nil, ""},
		{"blank", 8, []string{" \n\t"}, ""},
		{"fits", 8, []string{"ab", "cd\n"}, "; stderr: abcd"},
		{"exactly max", 4, []string{"abcd"}, "; stderr: abcd"},
		{"one long write", 4, []string{"abcdefgh"}, "; stderr: ...efgh"},
		{"many small writes", 4, []string{"ab", "cd", "ef", "g"}, "; stderr: ...defg"},
		{"max after earlier writes", 4, []string{"x", "abcd"}, "; stderr: ...abcd"},
		{"cut UTF-8 sequence dropped", 5, []string{"x€€"}, "; stderr: ...€"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &tailBuffer{max: tt.max}
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				require.NoError(t, err)
				require.Equal(t, len(w), n)
			}
			require.Equal(t, tt.want, b.suffix())
		})
	}
}

// runExec runs command for job and requires success.
func runExec(t *testing.T, command string, opts ExecOptions, job *Job) *Job {
	t.Helper()
	h, err := NewExecHandler(command, opts)
	require.NoError(t, err)
	require.NoError(t, h.Process(t.Context(), job))
	return job
}

// waitForPIDs waits until file holds n pids (written with a rename, so
// never seen half-written) and returns them.
func waitForPIDs(t *testing.T, file string, n int) []int {
	t.Helper()
	require.Eventually(t, func() bool { _, err := os.Stat(file); return err == nil },
		10*time.Second, 10*time.Millisecond, "%s not written", file)
	return readPIDs(t, file, n)
}

// readPIDs reads n pids from file and kills them when the test ends, so a
// failing test leaves nothing running.
func readPIDs(t *testing.T, file string, n int) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	fields := strings.Fields(string(b))
	require.Len(t, fields, n, "pid file %q", b)
	pids := make([]int, n)
	for i, f := range fields {
		pids[i], err = strconv.Atoi(f)
		require.NoError(t, err)
		killOnCleanup(t, pids[i])
	}
	return pids
}

func killOnCleanup(t *testing.T, pid int) {
	t.Cleanup(func() {
		if !processGone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// processGone reports whether process pid has ended: kill(pid, 0) fails
// with ESRCH, or it is a zombie. A killed process whose parent died is
// re-parented to init and stays a zombie until init reaps it, which can take
// seconds (in some containers, forever); a zombie runs nothing.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// The worker's own SESSIONQ_* configuration (the Redis URL may hold a
// password) does not reach a command; the rest of its environment does.
func TestExecHandlerHidesWorkerConfig(t *testing.T) {
	t.Setenv("SESSIONQ_REDIS_URL", "redis://:secret@db:6379/0")
	t.Setenv("SESSIONQ_WORKER_CONCURRENCY", "8")
	t.Setenv("UNRELATED_VAR", "kept")
	job := runExec(t, `sh -c 'echo "[$SESSIONQ_REDIS_URL][$SESSIONQ_WORKER_CONCURRENCY][$UNRELATED_VAR][$SESSIONQ_JOB_ID]"'`, ExecOptions{},
		&Job{ID: "j", Type: "t", Queue: "default", Attempt: 1})
	require.Equal(t, "[][][kept][j]\n", string(job.Result()))
}
