package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/presence"
	"github.com/sessionq/sessionq/internal/redistest"
)

// The URLs the README's walk-through exports; the test points them at its
// own Redis (never at 6379 or 6380, which may be someone else's).
const (
	readmeDevURL   = "redis://127.0.0.1:6380/0"
	readmeRedisURL = "redis://127.0.0.1:6379/0"
)

// walkThrough returns the fenced sh blocks of the README's "### Walk-through"
// section: the dev setup, the worker setup, and the commands.
func walkThrough(t *testing.T) (devSetup, workerSetup, commands string) {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	text := string(raw)
	start := strings.Index(text, "\n### Walk-through\n")
	require.GreaterOrEqual(t, start, 0, "README has no ### Walk-through section")
	section := text[start+1:]
	if end := regexp.MustCompile(`\n##+ `).FindStringIndex(section[4:]); end != nil {
		section = section[:end[0]+4]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	require.Len(t, blocks, 3, "the walk-through has three sh blocks: dev, worker, commands")
	return blocks[0][1], blocks[1][1], blocks[2][1]
}

// pointAt replaces the README's URL in block with url, and fails the test
// unless the block has it exactly once.
func pointAt(t *testing.T, block, readmeURL, url string) string {
	t.Helper()
	line := "export SESSIONQ_REDIS_URL=" + readmeURL
	require.Equal(t, 1, strings.Count(block, line), "the block should export %s once:\n%s", readmeURL, block)
	return strings.Replace(block, line, "export SESSIONQ_REDIS_URL="+url, 1)
}

// shell runs a block with bash -eu (every command must succeed) in dir,
// with the sessionq binary first on PATH and no SESSIONQ_* variables of
// the test's own.
func shell(ctx context.Context, t *testing.T, dir, block string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = dir
	env := []string{"PATH=" + filepath.Dir(binary(t)) + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIONQ_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	// Its own process group, killed whole: a block may start a worker.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// runCommands runs the walk-through's commands and checks what they say.
func runCommands(t *testing.T, commands, url, wantFile string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := shell(ctx, t, t.TempDir(), pointAt(t, commands, readmeDevURL, url))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the walk-through failed:\n%s", out)
	text := string(out)
	ids := regexp.MustCompile(`(?m)^s[a-z2-7]{26}$`).FindAllString(text, -1)
	require.Len(t, ids, 1, "establish --tid prints the session created:\n%s", text)
	require.Contains(t, text, "refused\n")
	require.Contains(t, text, "a TID is required")
	require.Regexp(t, `(?m)^de$`, text)
	require.Contains(t, text, "data.xml")
	require.Contains(t, text, wantFile)
	// The worker published that it handles doc.render (on the embedded
	// Redis too), so submit did not warn.
	require.NotContains(t, text, "no live worker")
}

func TestReadmeWalkThrough(t *testing.T) {
	t.Parallel()
	devSetup, workerSetup, commands := walkThrough(t)

	t.Run("dev", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "sessionq dev\n", devSetup)
		port, err := redistest.FreePort()
		require.NoError(t, err)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		// The README's URL is dev's default; the test's dev listens
		// elsewhere, and prints the line to export.
		dev := start(t, "dev", "dev", "--listen", addr, "--shutdown-grace", "200ms").ready(t, "Press Ctrl-C")
		url := "redis://" + addr + "/0"
		require.Contains(t, dev.output(), "\n  export SESSIONQ_REDIS_URL="+url+"\n")
		require.Equal(t, readmeDevURL, strings.Replace(url, addr, "127.0.0.1:6380", 1))
		runCommands(t, commands, url, "rendered-1.json")
	})

	t.Run("redis-server and worker", func(t *testing.T) {
		t.Parallel()
		rdb, url := redistest.Client(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		worker := shell(ctx, t, t.TempDir(), pointAt(t, workerSetup, readmeRedisURL, url))
		var out lockedWriter
		out.mu, out.b = new(sync.Mutex), new(bytes.Buffer)
		worker.Stdout, worker.Stderr = out, out
		require.NoError(t, worker.Start())
		done := make(chan error, 1)
		go func() { done <- worker.Wait() }()
		t.Cleanup(func() {
			cancel()
			<-done
			if t.Failed() {
				out.mu.Lock()
				t.Logf("worker output:\n%s", out.b.String())
				out.mu.Unlock()
			}
		})
		// Ready when it publishes that it handles doc.render.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ids, err := presence.Handlers(t.Context(), rdb, "doc.render")
			require.NoError(t, err)
			if len(ids) > 0 {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the worker exited: %v", err)
			default:
			}
			require.True(t, time.Now().Before(deadline), "the worker never published doc.render")
			time.Sleep(10 * time.Millisecond)
		}
		runCommands(t, commands, url, "rendered.txt")
	})
}
