package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// A mixed fleet as users run it: worker processes with disjoint and
// overlapping handler sets on one queue, session and plain jobs of four
// types, one type ("d") with no handler at first, then a worker for it, and
// a rolling replacement of a worker by one with another handler set. No
// job is dead-lettered or charged an attempt by a worker without its
// handler (every job has max retry 0: one wrong attempt would dead-letter
// it), every run is on a worker that handles its type, and sessions keep
// their order and exclusion.
func TestMixedFleet(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	logFile, runsFile := filepath.Join(dir, "events.log"), filepath.Join(dir, "runs.log")
	job := filepath.Join(dir, "job.sh")
	require.NoError(t, os.WriteFile(job, []byte(fmt.Sprintf(`#!/bin/sh
echo "start ${SESSIONQ_SESSION_ID:--} ${SESSIONQ_SEQ:-0} $PPID $$" >> %[1]s
echo "$SESSIONQ_JOB_ID $SESSIONQ_JOB_TYPE $PPID $SESSIONQ_ATTEMPT" >> %[2]s
sleep 0.02
echo "end ${SESSIONQ_SESSION_ID:--} ${SESSIONQ_SEQ:-0} $PPID $$" >> %[1]s
`, logFile, runsFile)), 0o755))

	handles := map[int][]string{} // worker pid -> types
	worker := func(name string, types ...string) *proc {
		args := []string{"worker", "--redis", url, "--concurrency", "3", "--id", name}
		for _, typ := range types {
			args = append(args, "--exec", typ+"="+job)
		}
		p := start(t, name, args...).ready(t, "worker started")
		handles[p.pid()] = types
		return p
	}
	w1 := worker("w1", "a", "b")
	worker("w2", "b", "c")
	worker("w3", "a", "c")

	c := client(t, rdb)
	types := []string{"a", "b", "c", "d"}
	var ids, dJobs []string
	submit := func(typ string, opts ...jobs.Option) {
		sub, err := c.Submit(ctx, typ, nil, append(opts, jobs.MaxRetry(0))...)
		require.NoError(t, err)
		ids = append(ids, sub.ID)
		if typ == "d" {
			dJobs = append(dJobs, sub.ID)
		}
	}
	for i := range 48 {
		submit(types[(i/8+i)%4], jobs.Session(fmt.Sprintf("mixed-%d", i%8)))
	}
	for i := range 24 {
		submit(types[i%4])
	}

	// Nobody handles d: its plain jobs are handed back unopened and wait,
	// charged nothing, while the others run; its session jobs hold their
	// sessions.
	pollUntil(t, 60*time.Second, func() bool {
		for _, id := range ids[48:] {
			in, err := c.Get(ctx, id)
			require.NoError(t, err)
			if in.Type != "d" && in.State != jobs.StateSucceeded {
				return false
			}
			if in.Type == "d" && !strings.Contains(in.LastError, "handed back unopened") {
				return false
			}
		}
		return true
	}, "the plain jobs of a, b and c ran; those of d were handed back")
	for _, id := range dJobs {
		in, err := c.Get(ctx, id)
		require.NoError(t, err)
		require.Zero(t, in.Attempts, "job %s of d: %+v", id, in)
		require.Contains(t, []jobs.State{jobs.StateWaitingForHandler, jobs.StateParked}, in.State, "job %s of d: %+v", id, in)
	}
	require.NotContains(t, readString(t, runsFile), " d ", "no job of d ran")

	// A worker for d joins; then w1 is replaced by one with another set.
	worker("w4", "d")
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w1.done:
	case <-time.After(15 * time.Second):
		t.Fatal("w1 did not stop after SIGTERM")
	}
	worker("w5", "a", "c", "d")

	infos := waitAllMoving(t, c, ids, 30*time.Second, 120*time.Second)
	for id, in := range infos {
		require.Equal(t, jobs.StateSucceeded, in.State, "job %s: %+v", id, in)
		require.Equal(t, 1, in.Attempts, "job %s: %+v", id, in)
	}
	dl, err := c.DeadLetters(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, dl)

	// Each job ran once, on a worker that handles its type, at attempt 1.
	f, err := os.Open(runsFile)
	require.NoError(t, err)
	defer f.Close()
	ran := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Fields(sc.Text())
		require.Len(t, p, 4, "run line %q", sc.Text())
		pid, _ := strconv.Atoi(p[2])
		require.Contains(t, handles[pid], p[1], "job %s of %s ran on worker pid %d (handles %v)", p[0], p[1], pid, handles[pid])
		require.Equal(t, "1", p[3], "job %s attempt", p[0])
		ran[p[0]]++
	}
	require.Len(t, ran, len(ids))
	for id, n := range ran {
		require.Equal(t, 1, n, "job %s ran %d times", id, n)
	}
	rep := judge(readLog(t, logFile), nil)
	require.True(t, rep.OK(), rep.String())
	require.Equal(t, 8, rep.SessionsSeen)
}
