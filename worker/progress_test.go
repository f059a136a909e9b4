package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// A Go handler's progress is readable while it runs, for a session job and
// a plain one; an exec command's progress lines too.
func TestProgress(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	c := newClient(t, rdb)
	reported := make(chan struct{}, 2)
	release := make(chan struct{})
	h, err := worker.NewExecHandler(`sh -c 'echo "progress 1/5 warming" >&"$SESSIONQ_PROGRESS_FD"; echo "noise"; echo "progress 2/5 half way" >&3'`, worker.ExecOptions{})
	require.NoError(t, err)
	w, err := worker.New(rdb, testConfig(worker.Config{Concurrency: 3}))
	require.NoError(t, err)
	require.NoError(t, w.Handle("cmd", h))
	require.NoError(t, w.HandleFunc("steps", func(ctx context.Context, j *worker.Job) error {
		if err := worker.Progress(ctx, 3, 10, "three of ten"); err != nil {
			return err
		}
		reported <- struct{}{}
		<-release
		return nil
	}))
	require.NoError(t, w.Start(ctx))
	t.Cleanup(w.Stop)

	sess, err := c.Submit(ctx, "steps", nil, jobs.Session("prog"))
	require.NoError(t, err)
	plain, err := c.Submit(ctx, "steps", nil)
	require.NoError(t, err)
	<-reported
	<-reported
	for _, id := range []string{sess.ID, plain.ID} {
		in, err := c.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, jobs.StateRunning, in.State, id)
		require.NotNil(t, in.Progress, id)
		require.Equal(t, int64(3), in.Progress.Done)
		require.Equal(t, int64(10), in.Progress.Total)
		require.Equal(t, "three of ten", in.Progress.Message)
		require.WithinDuration(t, time.Now(), in.Progress.At, time.Minute)
	}
	close(release)
	ex, err := c.Submit(ctx, "cmd", nil, jobs.Session("prog-exec"))
	require.NoError(t, err)
	in := waitTerminal(t, c, []string{ex.ID}, 10*time.Second)[ex.ID]
	require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
	require.NotNil(t, in.Progress)
	require.Equal(t, jobs.Progress{Done: 2, Total: 5, Message: "half way", At: in.Progress.At}, *in.Progress)
	require.ErrorIs(t, worker.Progress(ctx, 1, 2, "x"), worker.ErrNoJob)
}

func TestParseProgressLine(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]*jobs.Progress{
		"progress 3/10 copying":  {Done: 3, Total: 10, Message: "copying"},
		"progress 7":             {Done: 7},
		"progress 7 no total":    {Done: 7, Message: "no total"},
		"progress 1/2\r\n":       {Done: 1, Total: 2},
		"progress -1/2 x":        nil,
		"progress x/2":           nil,
		"progress 1/y":           nil,
		"hello":                  nil,
		"progress":               nil,
		"progress 1/-2 negative": nil,
	} {
		p, ok := worker.ParseProgressLine(line)
		if want == nil {
			require.False(t, ok, line)
			continue
		}
		require.True(t, ok, line)
		require.Equal(t, *want, p, line)
	}
}

func FuzzParseProgressLine(f *testing.F) {
	f.Add("progress 3/10 copying")
	f.Add("progress 9223372036854775807/1 big")
	f.Fuzz(func(t *testing.T, line string) {
		p, ok := worker.ParseProgressLine(line)
		if ok && (p.Done < 0 || p.Total < 0) {
			t.Fatalf("negative progress from %q: %+v", line, p)
		}
	})
}
