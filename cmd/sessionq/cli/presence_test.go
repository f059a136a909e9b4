package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/presence"
	"github.com/sessionq/sessionq/internal/redistest"
)

const noHandlerWarning = `sessionq: warning: no live worker handles job type "t"`

// A worker publishes the types it handles while it runs and withdraws them
// when it stops; submit warns at once when no live worker handles the type.
func TestWorkerPresenceAndSubmitWarning(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)

	_, errOut, err := run(t, "submit", "--redis", url, "--type", "t")
	require.NoError(t, err)
	require.Contains(t, errOut, noHandlerWarning)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	var w result
	go func() {
		var err error
		w, err = execute(ctx, "worker", "--redis", url, "--exec", "t=cat", "--exec", "u=true --quiet", "--id", "w-presence")
		done <- err
	}()
	eventually(t, 10*time.Second, func() bool {
		ids, err := presence.Handlers(t.Context(), rdb, "t")
		return err == nil && len(ids) == 1 && ids[0] == "w-presence"
	}, "the worker never published its types")

	out, errOut, err := run(t, "submit", "--redis", url, "--type", "t", "--wait")
	require.NoError(t, err)
	require.NotEmpty(t, out)
	require.NotContains(t, errOut, "no live worker")

	cancel()
	require.NoError(t, <-done)
	ids, err := presence.Handlers(t.Context(), rdb, "t")
	require.NoError(t, err)
	require.Empty(t, ids, "a stopped worker withdraws its types at once")
	// The worker said what it does, without its command lines' arguments.
	require.Contains(t, w.err.String(), `msg="worker ready" id=w-presence concurrency=10 queues=default types=t,u exec="t=cat,u=true"`)
	require.NotContains(t, w.err.String(), "--quiet")

	_, errOut, err = run(t, "submit", "--redis", url, "--type", "t")
	require.NoError(t, err)
	require.Contains(t, errOut, noHandlerWarning)
}

// submit --wait says, after a few seconds, that no live worker handles the
// type, and keeps waiting.
func TestSubmitWaitSaysNoWorker(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	var r result
	started := make(chan struct{})
	go func() {
		r = result{out: &syncBuffer{}, err: &syncBuffer{}}
		root := NewRootCmd()
		root.SetArgs([]string{"submit", "--redis", url, "--type", "t", "--session", "s1", "--wait"})
		root.SetOut(r.out)
		root.SetErr(r.err)
		root.SetIn(strings.NewReader(""))
		close(started)
		done <- root.ExecuteContext(ctx)
	}()
	<-started
	eventually(t, 15*time.Second, func() bool {
		return strings.Contains(r.err.String(), `sessionq: still waiting for job `) &&
			strings.Contains(r.err.String(), `: no live worker handles job type "t"`)
	}, "submit --wait never said that no worker handles the type")
	select {
	case err := <-done:
		t.Fatalf("submit --wait returned early: %v", err)
	default:
	}
	cancel()
	require.ErrorContains(t, <-done, "interrupted while waiting for job")
}

// With a live handler, submit --wait does not say so (the job never runs
// here: the handler is published by hand, no worker takes it).
func TestSubmitWaitQuietWithHandler(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	require.NoError(t, presence.Publish(t.Context(), rdb, "w1", []string{"t"}, time.Hour))
	_, errOut, err := run(t, "submit", "--redis", url, "--type", "t", "--wait", "--wait-timeout", "5s")
	require.ErrorContains(t, err, "did not end within 5s")
	require.NotContains(t, errOut, "no live worker")
}
