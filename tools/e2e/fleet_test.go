package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// Three separate worker processes and a scheduler process: every session's
// jobs start in submission order and never overlap, unrelated jobs spread
// over the fleet.
func TestFleetOfWorkerProcesses(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "events.log")
	job := script(t, dir, logFile, "0.02")
	port, err := redistest.FreePort()
	require.NoError(t, err)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 3; i++ {
		args := []string{"worker", "--redis", url, "--concurrency", "3", "--exec", "doc=" + job}
		if i == 0 {
			args = append(args, "--metrics-addr", metricsAddr)
		}
		start(t, fmt.Sprintf("worker-%d", i), args...).ready(t, "worker started")
	}
	start(t, "scheduler", "scheduler", "--redis", url).ready(t, "scheduler started")
	c := client(t, rdb)
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < 25; i++ {
				var opts []jobs.Option
				if i%5 != 0 {
					opts = append(opts, jobs.Session(fmt.Sprintf("fleet-%d", (i+g)%8)))
				}
				sub, err := c.Submit(context.Background(), "doc", nil, opts...)
				require.NoError(t, err)
				mu.Lock()
				ids = append(ids, sub.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	infos := waitAll(t, c, ids, 90*time.Second)
	for id, in := range infos {
		require.Equal(t, jobs.StateSucceeded, in.State, "job %s: %s", id, in.LastError)
	}
	evs := readLog(t, logFile)
	rep := judge(evs, nil)
	require.True(t, rep.OK(), rep.String())
	require.Equal(t, 100, rep.Starts)
	require.Equal(t, 8, rep.SessionsSeen)
	require.GreaterOrEqual(t, rep.MaxParallel, 2)
	workers := map[int]bool{}
	for _, e := range evs {
		workers[e.worker] = true
	}
	require.GreaterOrEqual(t, len(workers), 2, "jobs should spread over the worker processes")
	// Worker 0 serves its metrics.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), `sessionq_jobs_finished_total{outcome="succeeded",type="doc"}`)
	require.Contains(t, string(body), "go_goroutines")
}

// kill -9 of a worker in the middle of a session job: the job runs again
// on another worker after the lease expires, nothing is lost, the order
// holds, and the killed worker's command does not outlive it.
func TestKill9WorkerMidJob(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "events.log")
	job := script(t, dir, logFile, "0.3")
	workerArgs := []string{"worker", "--redis", url, "--concurrency", "2", "--lease", "1s", "--exec", "doc=" + job}
	w1 := start(t, "worker-1", workerArgs...).ready(t, "worker started")
	start(t, "scheduler", "scheduler", "--redis", url, "--interval", "200ms", "--dispatch-grace", "1s").ready(t, "scheduler started")
	c := client(t, rdb)
	var ids []string
	for i := 0; i < 6; i++ {
		sub, err := c.Submit(context.Background(), "doc", nil, jobs.Session("crash"))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	// Wait for job 3 to start on worker 1, then kill it.
	deadline := time.Now().Add(30 * time.Second)
	jobPid := 0
	for {
		for _, e := range readLog(t, logFile) {
			if e.kind == "start" && e.seq == 3 {
				require.Equal(t, w1.pid(), e.worker)
				jobPid = e.pid
			}
		}
		if jobPid != 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "job 3 never started")
		time.Sleep(10 * time.Millisecond)
	}
	w1.kill9(t)
	killedAt := time.Now()
	start(t, "worker-2", workerArgs...)
	infos := waitAll(t, c, ids, 60*time.Second)
	for i, id := range ids {
		require.Equal(t, jobs.StateSucceeded, infos[id].State, "job %d", i+1)
	}
	require.Equal(t, 2, infos[ids[2]].Attempts, "the killed run counts as an attempt")
	rep := judge(readLog(t, logFile), map[int]bool{w1.pid(): true})
	require.True(t, rep.OK(), rep.String())
	t.Logf("repaired and finished %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	// The killed worker's job command (sh running the script) died with it.
	require.Eventually(t, func() bool { return gone(jobPid) }, 5*time.Second, 20*time.Millisecond,
		"job command %d outlived its worker", jobPid)
}

// kill -9 of submitters in the middle of submitting: every job whose ID a
// submitter printed (acknowledged) runs, and no session is left stuck.
func TestKill9SubmittersMidSubmit(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "events.log")
	job := script(t, dir, logFile, "0")
	start(t, "worker", "worker", "--redis", url, "--concurrency", "4", "--exec", "doc="+job).ready(t, "worker started")
	start(t, "scheduler", "scheduler", "--redis", url, "--interval", "200ms", "--dispatch-grace", "500ms").ready(t, "scheduler started")
	var acked []string
	killed := 0
	for i := 0; i < 40; i++ {
		cmd := exec.Command(binary(t), "submit", "--redis", url, "--type", "doc", "--session", fmt.Sprintf("sub-%d", i%3), "--payload", "x")
		var out strings.Builder
		cmd.Stdout = &out
		require.NoError(t, cmd.Start())
		if i%2 == 1 { // kill every other submitter at a random point
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		if err := cmd.Wait(); err != nil {
			killed++
		}
		if id := strings.TrimSpace(out.String()); id != "" {
			acked = append(acked, id)
		}
	}
	t.Logf("%d submitters killed, %d jobs acknowledged", killed, len(acked))
	require.NotEmpty(t, acked)
	c := client(t, rdb)
	infos := waitAll(t, c, acked, 60*time.Second)
	for id, in := range infos {
		require.Equal(t, jobs.StateSucceeded, in.State, "acknowledged job %s", id)
	}
	// No session is stuck: every ledger drains.
	require.Eventually(t, func() bool {
		for i := 0; i < 3; i++ {
			if rdb.LLen(context.Background(), keys.Pending(fmt.Sprintf("sub-%d", i))).Val() != 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "a session was left stuck")
	require.True(t, judge(readLog(t, logFile), nil).OK())
}

// A Redis restart with AOF on in the middle of a run loses no acknowledged
// job, and the sessions stay in order: a crash (kill -9) with a short
// outage, and a shutdown with an outage of three leases, during which the
// workers cannot renew and cancel their runs.
func TestRedisRestartWithAOF(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kill bool
		down time.Duration
	}{
		{"killed, down 0.5s", true, 500 * time.Millisecond},
		{"stopped, down 3s", false, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Spawn(t, redistest.SpawnOptions{AppendOnly: true})
			rdb := srv.Client(t)
			url := srv.URL()
			dir := t.TempDir()
			logFile := filepath.Join(dir, "events.log")
			job := script(t, dir, logFile, "0.05")
			for i := 0; i < 2; i++ {
				start(t, fmt.Sprintf("worker-%d", i), "worker", "--redis", url, "--concurrency", "3", "--lease", "1s", "--exec", "doc="+job).ready(t, "worker started")
			}
			start(t, "scheduler", "scheduler", "--redis", url, "--interval", "200ms", "--dispatch-grace", "1s").ready(t, "scheduler started")
			c := client(t, rdb)
			var ids []string
			for i := 0; i < 60; i++ {
				sub, err := c.Submit(context.Background(), "doc", nil, jobs.Session(fmt.Sprintf("aof-%d", i%4)))
				require.NoError(t, err)
				ids = append(ids, sub.ID)
			}
			time.Sleep(300 * time.Millisecond) // let some run, then pull the plug
			if tc.kill {
				require.NoError(t, srv.Kill())
			} else {
				require.NoError(t, srv.Stop())
			}
			time.Sleep(tc.down)
			require.NoError(t, srv.Restart())
			infos := waitAll(t, c, ids, 90*time.Second)
			for id, in := range infos {
				require.Equal(t, jobs.StateSucceeded, in.State, "job %s: %s", id, in.LastError)
			}
			// Runs cut by the outage may repeat (at least once); order holds.
			evs := readLog(t, logFile)
			violations := outOfOrder(evs)
			require.Zero(t, violations, "%d of %d events out of order", violations, len(evs))
		})
	}
}

// outOfOrder counts session starts below a sequence number already
// started. A run cut off by the Redis outage loses its lease and may overlap
// the rerun that replaces it (its writes are fenced), so overlaps are not
// counted here.
func outOfOrder(evs []event) int {
	n := 0
	last := map[string]int64{}
	for _, e := range evs {
		if e.kind != "start" || e.session == "-" {
			continue
		}
		if e.seq < last[e.session] {
			n++
		}
		last[e.session] = max(last[e.session], e.seq)
	}
	return n
}
