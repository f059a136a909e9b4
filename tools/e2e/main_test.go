package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/audit"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var build struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// binary builds the sessionq command once per test binary.
func binary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "sessionq-e2e-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "sessionq")
		cmd := exec.Command("go", "build", "-race", "-o", build.path, "github.com/sessionq/sessionq/cmd/sessionq")
		build.out, build.err = cmd.CombinedOutput()
	})
	require.NoError(t, build.err, "building sessionq: %s", build.out)
	return build.path
}

// proc is a sessionq process started by a test.
type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// start runs the sessionq binary with args; it is killed when the test ends
// and its output is logged if the test failed.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{out: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = lockedWriter{p.mu, p.out}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- output of %s (pid %d):\n%s", name, p.cmd.Process.Pid, p.out.String())
			p.mu.Unlock()
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// ready waits until the process has printed want, and fails the test at
// once if it exits first.
func (p *proc) ready(t *testing.T, want string) *proc {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(p.output(), want) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %s", p.cmd.Args, p.output())
		case <-deadline:
			t.Fatalf("%s not ready after 30s: %s", p.cmd.Args, p.output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return p
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
}

// script writes the exec handler used by the fleet tests: it logs
// "start SESSION SEQ WORKERPID" and "end SESSION SEQ" lines to logFile
// (appends of one short line are atomic), sleeping between them.
func script(t *testing.T, dir, logFile string, sleep string) string {
	t.Helper()
	path := filepath.Join(dir, "job.sh")
	body := fmt.Sprintf(`#!/bin/sh
echo "start ${SESSIONQ_SESSION_ID:--} ${SESSIONQ_SEQ:-0} $PPID $$" >> %[1]s
sleep %[2]s
echo "end ${SESSIONQ_SESSION_ID:--} ${SESSIONQ_SEQ:-0} $PPID $$" >> %[1]s
`, logFile, sleep)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o755))
	return path
}

type event struct {
	kind    string // start or end
	session string // "-" for none
	seq     int64
	worker  int
	pid     int // the job command's own pid
}

func readLog(t *testing.T, path string) []event {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var evs []event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) != 5 {
			continue // a line cut by a kill
		}
		seq, _ := strconv.ParseInt(parts[2], 10, 64)
		wpid, _ := strconv.Atoi(parts[3])
		pid, _ := strconv.Atoi(parts[4])
		evs = append(evs, event{kind: parts[0], session: parts[1], seq: seq, worker: wpid, pid: pid})
	}
	return evs
}

// judge replays the log into an audit.Recorder. Runs on a killed worker
// (no end line) are abandoned when the worker died.
func judge(evs []event, killed map[int]bool) audit.Report {
	var rec audit.Recorder
	open := map[string]event{} // session -> running start
	for _, e := range evs {
		s := e.session
		if s == "-" {
			s = ""
		}
		switch e.kind {
		case "start":
			if prev, ok := open[s]; ok && s != "" && killed[prev.worker] {
				rec.Abandon(s)
				delete(open, s)
			}
			rec.Start(s, e.seq)
			if s != "" {
				open[s] = e
			}
		case "end":
			rec.End(s)
			delete(open, s)
		}
	}
	return rec.Report()
}

func waitAll(t *testing.T, c *jobs.Client, ids []string, within time.Duration) map[string]*jobs.Info {
	t.Helper()
	return waitAllMoving(t, c, ids, within, within)
}

// waitAllMoving waits for every job of ids to end, and fails when none has
// ended for stall, or after limit: a backlog drains at the machine's pace,
// but it must keep draining.
func waitAllMoving(t *testing.T, c *jobs.Client, ids []string, stall, limit time.Duration) map[string]*jobs.Info {
	t.Helper()
	out := map[string]*jobs.Info{}
	start := time.Now()
	deadline, lastPending := start.Add(stall), -1
	for {
		pending := 0
		for _, id := range ids {
			if in := out[id]; in != nil && in.State.Terminal() {
				continue
			}
			in, err := c.Get(context.Background(), id)
			if err != nil {
				pending++
				continue
			}
			out[id] = in
			if !in.State.Terminal() {
				pending++
			}
		}
		if pending == 0 {
			return out
		}
		if pending != lastPending {
			lastPending, deadline = pending, time.Now().Add(stall)
		}
		if now := time.Now(); now.After(deadline) || now.Sub(start) > limit {
			t.Fatalf("%d of %d jobs not finished after %s (none ended for %s at most; limit %s)",
				pending, len(ids), time.Since(start).Round(time.Second), stall, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone reports whether process pid has exited (or is a zombie waiting to
// be reaped).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func client(t *testing.T, rdb redis.UniversalClient) *jobs.Client {
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	return c
}
