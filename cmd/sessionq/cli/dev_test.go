package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// background runs a long-running command until the test ends (or stop is
// called) and returns its output buffers and a stop function that cancels
// it and returns its error.
func background(t *testing.T, args ...string) (result, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := result{out: &syncBuffer{}, err: &syncBuffer{}}
	done := make(chan error, 1)
	root := NewRootCmd()
	root.SetArgs(args)
	root.SetOut(r.out)
	root.SetErr(r.err)
	go func() { done <- root.ExecuteContext(ctx) }()
	var err error
	stopped := false
	stop := func() error {
		if !stopped {
			cancel()
			err = <-done
			stopped = true
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return r, stop
}

func TestDevServesSubmit(t *testing.T) {
	t.Parallel()
	port, err := redistest.FreePort()
	require.NoError(t, err)
	dev, stop := background(t, "dev", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--concurrency", "4", "--shutdown-grace", "200ms", "--gateway-addr", "127.0.0.1:0")
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	eventually(t, 10*time.Second, func() bool { return strings.Contains(dev.out.String(), "Press Ctrl-C") },
		"dev did not start: "+dev.err.String())
	require.Contains(t, dev.out.String(), "export SESSIONQ_REDIS_URL="+url+"\n")
	require.Contains(t, dev.out.String(), "Job types: doc.render, echo, fail, sleep\n")

	out, _, err := run(t, "submit", "--redis", url, "--type", "doc.render", "--session", "s1", "--payload", `{"doc":"x"}`, "--wait")
	require.NoError(t, err)
	id := strings.TrimSpace(out)
	out, _, err = run(t, "job", "get", id, "--redis", url)
	require.NoError(t, err)
	var in api.Job
	require.NoError(t, json.Unmarshal([]byte(out), &in))
	require.Equal(t, api.StateSucceeded, in.State)
	var res map[string]any
	require.NoError(t, json.Unmarshal(in.Result, &res))
	require.Equal(t, "x", res["doc"])

	out, _, err = run(t, "submit", "--redis", url, "--type", "fail", "--max-retry", "0", "--wait")
	require.ErrorContains(t, err, "failed after 1 attempt(s): failed on purpose")
	require.Regexp(t, `^[a-z0-9]+\n$`, out, "the ID is printed before waiting")

	_, _, err = run(t, "submit", "--redis", url, "--type", "sleep", "--session", "slow", "--payload", "1m", "--wait", "--wait-timeout", "200ms")
	require.ErrorContains(t, err, "did not end within 200ms")

	require.NoError(t, stop())
}

func TestWorkerRunsExecCommands(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the exec handler runs on Linux only")
	}
	rdb, url := redistest.Client(t)
	w, stop := background(t, "worker", "--redis", url, "--exec", "up=tr a-z A-Z", "--concurrency", "2", "--shutdown-grace", "1s")
	eventually(t, 10*time.Second, func() bool { return strings.Contains(w.err.String(), "worker started") },
		"worker did not start: "+w.err.String())
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	sub, err := c.Submit(t.Context(), "up", []byte("hello"), jobs.Session("s"))
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool {
		in, err := c.Get(t.Context(), sub.ID)
		require.NoError(t, err)
		return in.State == jobs.StateSucceeded && string(in.Result) == "HELLO"
	}, "exec job did not succeed")
	require.NoError(t, stop())
	require.Contains(t, w.err.String(), "worker stopped")
}

func TestSchedulerRunsUntilCancelled(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	s, stop := background(t, "scheduler", "--redis", url, "--interval", "50ms")
	eventually(t, 10*time.Second, func() bool { return strings.Contains(s.err.String(), "leadership changed") },
		"scheduler did not lead: "+s.err.String())
	require.NoError(t, stop())
}

func TestWorkerNeedsHandlers(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	_, _, err := run(t, "worker", "--redis", url)
	require.ErrorContains(t, err, "no job handlers: give at least one --exec TYPE=COMMAND")
}
