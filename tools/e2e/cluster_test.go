package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/audit"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// Invariant 6: on a real 3-node Redis Cluster, every script sessionq runs
// touches one slot (Redis refuses a script that reaches outside its slot),
// and the whole system works: ordered session jobs with the session table
// attached, jobs without a session, the reconciler's scan of every master,
// session files and parameters, close and sweep.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cc := redistest.Cluster(t, 3)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tbl, err := sessiontable.New(cc, sessiontable.Config{Logger: quiet, TempDir: t.TempDir()})
	require.NoError(t, err)
	var rec audit.Recorder
	for i := range 2 {
		w, err := worker.New(cc, worker.Config{ID: fmt.Sprintf("cluster-%d", i), Concurrency: 4, Lease: 2 * time.Second,
			PollInterval: 5 * time.Millisecond, Attacher: worker.SessionTable(tbl), Logger: quiet})
		require.NoError(t, err)
		require.NoError(t, w.HandleFunc("doc", func(ctx context.Context, j *worker.Job) error {
			rec.Start(j.SessionID, j.Seq)
			defer rec.End(j.SessionID)
			if s := sessiontable.FromContext(ctx); s.Active() {
				f, err := os.OpenFile(filepath.Join(s.Dir(), "log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(f, j.Seq)
				_ = f.Close()
				if err != nil {
					return err
				}
				return s.SetParam("last", fmt.Sprint(j.Seq))
			}
			return nil
		}))
		require.NoError(t, w.Start(ctx))
		t.Cleanup(w.Stop)
	}
	sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
	require.NoError(t, err)
	s, err := scheduler.New(cc, scheduler.Config{Interval: 100 * time.Millisecond, Logger: quiet, Tasks: []scheduler.Task{{Name: "session-sweep", Run: sw.Run}}})
	require.NoError(t, err)
	require.NoError(t, s.Start(ctx))
	t.Cleanup(s.Stop)

	live, err := tbl.Create(ctx, sessiontable.Spec{Owner: "alice", TID: "term-1"})
	require.NoError(t, err)
	require.NoError(t, tbl.PutFile(ctx, live.ID, "in.txt", []byte("x")))
	c, err := jobs.NewClient(cc, jobs.ClientConfig{})
	require.NoError(t, err)
	var ids []string
	sessions := []string{live.ID, "a", "b", "c", "d", "e"}
	for i := range 60 {
		opts := []jobs.Option{jobs.Session(sessions[i%len(sessions)])}
		if i%7 == 6 {
			opts = nil
		}
		if i%5 == 4 {
			// A keyed submit: its binding script reads two keys of the
			// job's slot.
			key := []jobs.Option{jobs.IdempotencyKey(fmt.Sprintf("key-%d", i)), jobs.Owner("alice")}
			_, err := c.Submit(ctx, "doc", nil, append(opts, key...)...)
			require.NoError(t, err, "binding a key")
			other := []jobs.Option{jobs.Session("a")}
			if len(opts) > 0 {
				other = nil
			}
			_, err = c.Submit(ctx, "doc", nil, append(other, key...)...)
			require.ErrorIs(t, err, jobs.ErrIdempotencyConflict)
			sub, err := c.Submit(ctx, "doc", nil, append(opts, key...)...)
			require.NoError(t, err)
			require.True(t, sub.Existing)
			ids = append(ids, sub.ID)
			continue
		}
		sub, err := c.Submit(ctx, "doc", nil, opts...)
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	infos := waitAll(t, c, ids, 60*time.Second)
	for id, in := range infos {
		require.Equal(t, jobs.StateSucceeded, in.State, "job %s: %s", id, in.LastError)
	}
	rep := rec.Report()
	require.True(t, rep.OK(), rep.String())
	require.Equal(t, 60, rep.Starts)

	log, err := tbl.File(ctx, live.ID, "log")
	require.NoError(t, err)
	require.Equal(t, len(rec.Started(live.ID)), strings.Count(string(log), "\n"))
	v, err := tbl.Param(ctx, live.ID, "last")
	require.NoError(t, err)
	require.NotEmpty(t, v)
	found, err := tbl.Lookup(ctx, "alice", "term-1")
	require.NoError(t, err)
	require.Equal(t, live.ID, found.ID)

	rp, err := s.Reconcile(ctx)
	require.NoError(t, err)
	require.Zero(t, rp.Repaired)
	require.NoError(t, tbl.Close(ctx, live.ID))
	_, err = sw.Sweep(ctx)
	require.NoError(t, err)
	_, err = tbl.Lookup(ctx, "alice", "term-1")
	require.ErrorIs(t, err, sessiontable.ErrNotFound)
}
