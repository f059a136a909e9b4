package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/durable"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// failoverLease is the workers' session lease in the failover test. A run
// whose lease the new primary does not know is cancelled within a lease of
// the promotion; runs that start later than settleAfter past the promotion
// must keep every guarantee.
const (
	failoverLease = 2 * time.Second
	settleAfter   = 2 * failoverLease
)

// Redis Sentinel failover under load, with real worker, scheduler and
// submitter processes in --redis-mode sentinel: kill -9 of the primary,
// promotion of the replica, and the former primary restarted (as a
// careful supervisor would) as a replica of the new one.
//
// What must hold: every acknowledged job that the new primary still knows
// succeeds (the reconciler repairs what the failover cut off), and runs that
// start once things settled never overlap and start in order. What is
// measured and logged: acknowledged jobs lost (Redis replicates
// asynchronously, so the last writes before the kill can be lost), overlaps
// and order violations around the failover, re-runs, and the times to
// recover. With --redis-wait-replicas 1 no acknowledged job may be lost.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		wait bool
	}{
		{"async replication", false},
		{"wait for 1 replica", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := runFailover(t, tc.wait)
			t.Logf("FAILOVER %s: %s", tc.name, f)
			require.Equal(t, f.ackedBefore-f.lost, f.succeededBefore, "every acknowledged job the new primary knows succeeds")
			require.Zero(t, f.lateOverlaps, "overlaps once settled")
			require.Zero(t, f.lateViolations, "order violations once settled")
			if tc.wait {
				require.Zero(t, f.lost, "with WAIT no acknowledged job is lost")
			}
		})
	}
}

// failover holds the figures of one run.
type failover struct {
	acked, ackedBefore, lost, succeededBefore int
	submitErrors                              int
	reruns                                    int
	earlyOverlaps, earlyViolations, cutRuns   int
	lateOverlaps, lateViolations, lateStarts  int
	promoted, submitsBack, jobsBack, rejoined time.Duration
}

func (f failover) String() string {
	return fmt.Sprintf("acknowledged %d (%d sent before the promotion), lost %d of those; %d submits failed; "+
		"promoted %v after the kill, first submit sent after it acknowledged %v after, first job started %v after, "+
		"old primary a replica again %v after; re-runs %d, runs cut off %d; around the failover %d overlaps, "+
		"%d order violations; after it settled (%d starts) %d overlaps, %d order violations",
		f.acked, f.ackedBefore, f.lost, f.submitErrors, f.promoted.Round(time.Millisecond), f.submitsBack.Round(time.Millisecond),
		f.jobsBack.Round(time.Millisecond), f.rejoined.Round(time.Millisecond), f.reruns, f.cutRuns,
		f.earlyOverlaps, f.earlyViolations, f.lateStarts, f.lateOverlaps, f.lateViolations)
}

// ack is a submit a submitter acknowledged (printed the job ID of).
type ack struct {
	id          string
	sent, acked time.Time
}

func runFailover(t *testing.T, wait bool) failover {
	s := redistest.Sentinel(t, redistest.SentinelOptions{DownAfter: time.Second})
	redisArgs := []string{"--redis", s.URL(0), "--redis-mode", "sentinel"}
	if wait {
		redisArgs = append(redisArgs, "--redis-wait-replicas", "1", "--redis-wait-timeout", "1s")
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "events.log")
	job := timedScript(t, dir, logFile, "0.05")
	for i := range 2 {
		args := append([]string{"worker", "--concurrency", "4", "--lease", failoverLease.String(), "--exec", "doc=" + job}, redisArgs...)
		start(t, fmt.Sprintf("worker-%d", i), args...).ready(t, "worker started")
	}
	start(t, "scheduler", append([]string{"scheduler", "--interval", "200ms", "--dispatch-grace", "1s"}, redisArgs...)...).
		ready(t, "scheduler started")

	// Submitters: sessionq submit processes, one after another, in three
	// loops, and for load a Go client submitting a job every 25 ms, over
	// six sessions.
	var mu sync.Mutex
	var acks []ack
	cliAcks, submitErrors := 0, 0
	record := func(id string, sent time.Time, err error, cli bool) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil || id == "" {
			submitErrors++
			return
		}
		acks = append(acks, ack{id, sent, time.Now()})
		if cli {
			cliAcks++
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	goClient := s.Client(t)
	if wait {
		require.NoError(t, durable.Install(goClient, durable.Config{Replicas: 1, Timeout: time.Second}))
	}
	jc := client(t, goClient)
	wg.Go(func() {
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sent := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			sub, err := jc.Submit(ctx, "doc", nil, jobs.Session(fmt.Sprintf("fo-%d", i%6)))
			cancel()
			id := ""
			if err == nil {
				id = sub.ID
			}
			record(id, sent, err, false)
		}
	})
	for g := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				args := append([]string{"submit", "--type", "doc", "--session", fmt.Sprintf("fo-%d", (g+i)%6)}, redisArgs...)
				out, err := exec.CommandContext(ctx, binary(t), args...).Output()
				cancel()
				record(strings.TrimSpace(string(out)), sent, err, true)
			}
		})
	}
	acked := func() (all, cli int) { mu.Lock(); defer mu.Unlock(); return len(acks), cliAcks }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("200 acknowledged submits, 20 by processes", func() bool { a, c := acked(); return a >= 200 && c >= 20 })

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	old, err := s.Master(ctx)
	require.NoError(t, err)
	killedAt := time.Now()
	require.NoError(t, s.Server(old).Kill())
	promoted, err := s.WaitFailover(ctx, old)
	require.NoError(t, err)
	promotedAt := time.Now()
	require.NoError(t, s.Server(old).RestartAsReplica(promoted))
	require.NoError(t, s.WaitReplicaOf(ctx, old, promoted))
	rejoinedAt := time.Now()
	settled := promotedAt.Add(settleAfter)
	waitFor("settling", func() bool { return time.Now().After(settled) })
	n, nc := acked()
	waitFor("200 more acknowledged submits, 10 by processes", func() bool { a, c := acked(); return a >= n+200 && c >= nc+10 })
	close(stop)
	wg.Wait()

	f := failover{acked: len(acks), submitErrors: submitErrors,
		promoted: promotedAt.Sub(killedAt), rejoined: rejoinedAt.Sub(killedAt)}
	for _, a := range acks {
		if a.sent.After(killedAt) {
			f.submitsBack = a.acked.Sub(killedAt)
			break
		}
	}
	// Every acknowledged job: lost (unknown to the new primary) or run to
	// success. A submit sent before the promotion may have written to the
	// old primary: it counts as acknowledged before the failover.
	c := client(t, s.Client(t))
	var known []string
	for _, a := range acks {
		_, err := c.Get(ctx, a.id)
		switch {
		case errors.Is(err, jobs.ErrNotFound):
			if a.sent.Before(promotedAt) {
				f.lost++
			} else {
				t.Errorf("job %s acknowledged after the failover is unknown", a.id)
			}
		case err != nil:
			t.Fatalf("reading job %s: %v", a.id, err)
		default:
			known = append(known, a.id)
		}
		if a.sent.Before(promotedAt) {
			f.ackedBefore++
		}
	}
	// The backlog left drains at the machine's pace (6 sessions of 50 ms
	// jobs run by forked shells; slow under the race detector on a busy
	// machine): it must keep draining.
	infos := waitAllMoving(t, c, known, 30*time.Second, 5*time.Minute)
	for _, a := range acks {
		if in := infos[a.id]; in != nil && a.sent.Before(promotedAt) && in.State == jobs.StateSucceeded {
			f.succeededBefore++
		}
	}
	for id, in := range infos {
		require.Equal(t, jobs.StateSucceeded, in.State, "job %s: %s", id, in.LastError)
	}

	// A lease taken (a job started, by Redis's clock) after the kill was
	// taken on the new primary.
	for _, in := range infos {
		if d := in.Started.Sub(killedAt); d > 0 && (f.jobsBack == 0 || d < f.jobsBack) {
			f.jobsBack = d
		}
	}
	runs := readRuns(t, logFile)
	starts := map[string]int{}
	for _, r := range runs {
		starts[r.job]++
		if r.end.IsZero() {
			f.cutRuns++
		}
	}
	for _, n := range starts {
		f.reruns += n - 1
	}
	var early, late []run
	for _, r := range runs {
		if r.start.After(settled) {
			late = append(late, r)
		} else {
			early = append(early, r)
		}
	}
	f.lateStarts = len(late)
	f.earlyOverlaps, f.earlyViolations = judgeRuns(early)
	f.lateOverlaps, f.lateViolations = judgeRuns(late)
	return f
}

// timedScript writes an exec handler that logs "start|end SESSION SEQ JOBID
// UNIXNANOS" lines to logFile, sleeping between them.
func timedScript(t *testing.T, dir, logFile, sleep string) string {
	t.Helper()
	path := filepath.Join(dir, "timed-job.sh")
	body := fmt.Sprintf(`#!/bin/sh
echo "start ${SESSIONQ_SESSION_ID:--} ${SESSIONQ_SEQ:-0} ${SESSIONQ_JOB_ID} $(date +%%s%%N)" >> %[1]s
sleep %[2]s
echo "end ${SESSIONQ_SESSION_ID:--} ${SESSIONQ_SEQ:-0} ${SESSIONQ_JOB_ID} $(date +%%s%%N)" >> %[1]s
`, logFile, sleep)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o755))
	return path
}

// run is one run of a job; end is zero when the run was cut off (its
// command killed, or its worker).
type run struct {
	session, job string
	seq          int64
	start, end   time.Time
}

// readRuns pairs the start and end lines of the log by job, in order of
// start.
func readRuns(t *testing.T, path string) []run {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var runs []run
	open := map[string]int{} // job -> index of its run without an end
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Fields(sc.Text())
		if len(p) != 5 {
			continue
		}
		seq, _ := strconv.ParseInt(p[2], 10, 64)
		ns, _ := strconv.ParseInt(p[4], 10, 64)
		at := time.Unix(0, ns)
		switch p[0] {
		case "start":
			open[p[3]] = len(runs)
			runs = append(runs, run{session: p[1], job: p[3], seq: seq, start: at})
		case "end":
			if i, ok := open[p[3]]; ok {
				runs[i].end = at
				delete(open, p[3])
			}
		}
	}
	require.NoError(t, sc.Err())
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].start.Before(runs[j].start) })
	return runs
}

// judgeRuns counts, per session, runs that start before the previous run
// ended (overlaps; a run cut off counts as ending where it started) and
// starts below a sequence number already started (order violations).
func judgeRuns(runs []run) (overlaps, violations int) {
	lastEnd := map[string]time.Time{}
	maxSeq := map[string]int64{}
	for _, r := range runs {
		if r.start.Before(lastEnd[r.session]) {
			overlaps++
		}
		if r.seq < maxSeq[r.session] {
			violations++
		}
		maxSeq[r.session] = max(maxSeq[r.session], r.seq)
		end := r.end
		if end.IsZero() {
			end = r.start
		}
		if end.After(lastEnd[r.session]) {
			lastEnd[r.session] = end
		}
	}
	return overlaps, violations
}
