package e2e

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/tools/chaos"
)

// Three worker processes and nothing else (no scheduler): kill -9 of one
// in the middle of its session jobs. The other two repair its sessions by
// themselves: every session finishes, in order, with no overlap, in about
// lease + repair interval (+ the leader term when the killed worker led).
// Before issue 7 the sessions whose head job the killed worker ran inline
// stayed stuck: no asynq task existed for asynq's recovery to find.
func TestFleetRepairsAKilledWorkerWithoutScheduler(t *testing.T) {
	t.Parallel()
	rdb, redisURL := redistest.Client(t)
	log := filepath.Join(t.TempDir(), "runs.log")
	watch := chaos.Watch(log, 0)
	defer watch.Stop()
	const lease, repair = time.Second, 200 * time.Millisecond
	args := chaos.WorkerArgs(redisURL, chaos.WorkerOptions{
		Concurrency: 2, Lease: lease, RepairInterval: repair, Exec: chaos.Jobrec(t, "doc", log),
	})
	workers := map[int]*proc{}
	for i := range 3 {
		p := start(t, fmt.Sprintf("worker-%d", i), args...).ready(t, "worker started")
		workers[p.pid()] = p
	}
	c := client(t, rdb)
	var acks []chaos.Ack
	var ids []string
	for range 5 {
		for s := range 6 {
			sess := fmt.Sprintf("repair-%d", s)
			sub, err := c.Submit(context.Background(), "doc", []byte("300ms"), jobs.Session(sess), jobs.MaxRetry(10))
			require.NoError(t, err)
			acks = append(acks, chaos.Ack{ID: sub.ID, Session: sess, Seq: sub.Seq, At: time.Now()})
			ids = append(ids, sub.ID)
		}
	}

	// Kill the worker running the most session jobs, once its second
	// round of jobs runs (some of them inline, after the first).
	var victim *proc
	require.Eventually(t, func() bool {
		runs, err := watch.Runs()
		require.NoError(t, err)
		alive := map[int]int{}
		for _, r := range runs {
			if r.End.IsZero() && r.Seq >= 2 {
				alive[r.Worker]++
			}
		}
		best := 0
		for pid, n := range alive {
			if n > best && workers[pid] != nil {
				best, victim = n, workers[pid]
			}
		}
		return victim != nil
	}, 20*time.Second, 5*time.Millisecond, "no worker ran a session's second job")
	victim.kill9(t)
	killedAt := time.Now()

	infos := waitAll(t, c, ids, 20*time.Second)
	states := map[string]jobs.State{}
	for id, in := range infos {
		states[id] = in.State
	}
	runs, err := watch.Stop()
	require.NoError(t, err)
	fig := chaos.Check(acks, runs, states, time.Now())
	t.Logf("figures: %s", fig)
	require.True(t, fig.OK(), fig.String())
	require.Equal(t, len(ids), fig.Done)

	// The repair time: from a killed run's end to the next start of its
	// session, for the sessions the killed worker held.
	var repaired []time.Duration
	for _, r := range runs {
		if r.Worker != victim.pid() || r.Completed {
			continue
		}
		next := time.Time{}
		for _, o := range runs {
			if o.Session == r.Session && o.Start.After(r.Start) && (next.IsZero() || o.Start.Before(next)) {
				next = o.Start
			}
		}
		require.False(t, next.IsZero(), "session %s never ran again", r.Session)
		repaired = append(repaired, next.Sub(r.End))
	}
	sort.Slice(repaired, func(i, j int) bool { return repaired[i] < repaired[j] })
	t.Logf("killed %s into the run; %d sessions cut; each running again after %v (bound: lease %s + repair interval %s, + leader term if the leader died); all done %s after the kill",
		killedAt.Sub(runs[0].Start).Round(time.Millisecond), len(repaired), repaired, lease, repair, time.Since(killedAt).Round(time.Millisecond))
}

// A worker cut off from Redis (by a proxy the test controls) while its
// exec command runs a session job must kill the command before another
// worker can take the job over: the command's own end (seen from the
// outside, since a killed command writes nothing) comes before the second
// worker starts the job. Blackhole is the hard case: the worker's calls
// hang instead of failing.
func TestCutOffWorkerStopsItsCommandBeforeTakeover(t *testing.T) {
	t.Parallel()
	for _, mode := range []chaos.Mode{chaos.Blackhole, chaos.Reset} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			rdb, redisURL := redistest.Client(t)
			u, err := url.Parse(redisURL)
			require.NoError(t, err)
			px, err := chaos.NewProxy(u.Host)
			require.NoError(t, err)
			defer px.Close()
			u.Host = px.Addr()
			log := filepath.Join(t.TempDir(), "runs.log")
			watch := chaos.Watch(log, 0)
			defer watch.Stop()
			const lease = 2 * time.Second
			opts := chaos.WorkerOptions{Concurrency: 1, Lease: lease, RepairInterval: 200 * time.Millisecond, Exec: chaos.Jobrec(t, "doc", log)}
			argsA := chaos.WorkerArgs(u.String(), opts)
			argsB := chaos.WorkerArgs(redisURL, opts)
			a := start(t, "worker-A (behind the proxy)", argsA...).ready(t, "worker started")
			c := client(t, rdb)
			// Long enough to outlast the test unless something kills it.
			_, err = c.Submit(context.Background(), "doc", []byte("20s"), jobs.Session("cut"), jobs.MaxRetry(5))
			require.NoError(t, err)
			runOn := func(pid int) (chaos.Run, bool) {
				runs, err := watch.Runs()
				require.NoError(t, err)
				for _, r := range runs {
					if r.Worker == pid {
						return r, true
					}
				}
				return chaos.Run{}, false
			}
			require.Eventually(t, func() bool { _, ok := runOn(a.pid()); return ok }, 20*time.Second, 5*time.Millisecond)
			b := start(t, "worker-B", argsB...).ready(t, "worker started")

			if mode == chaos.Blackhole {
				px.Blackhole()
			} else {
				px.Cut()
			}
			cutAt := time.Now()
			// Wait for both: A's command gone, B's run started. A command
			// that is never killed ends by itself after 20 s.
			var ra, rb chaos.Run
			require.Eventually(t, func() bool {
				var okB bool
				ra, _ = runOn(a.pid())
				rb, okB = runOn(b.pid())
				return okB && !ra.End.IsZero()
			}, 25*time.Second, 5*time.Millisecond, "worker B never took the job over")
			px.Heal()
			t.Logf("%s: A's command ended %s after the cut (completed by itself: %v); B started the job %s after the cut",
				mode, ra.End.Sub(cutAt).Round(time.Millisecond), ra.Completed, rb.Start.Sub(cutAt).Round(time.Millisecond))
			require.True(t, ra.End.Before(rb.Start),
				"the cut-off worker's command was alive %s after worker B took the job over",
				ra.End.Sub(rb.Start).Round(time.Millisecond))
			b.kill9(t) // its rerun takes 20 s; no need to wait for it
		})
	}
}
