package sessiontable_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// A session whose backlog passes the threshold is reported once per
// interval, in the log and by HotSessions; a fixed session ID that names no
// session (the anti-pattern) is caught too.
func TestHotSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logs := &logBuffer{}
	tbl, rdb := newTable(t, sessiontable.Config{HotBacklog: 4, HotInterval: time.Hour, Logger: logs.logger()})
	c := newClient(t, rdb)
	real := create(t, tbl, sessiontable.Spec{})
	var ids []string
	for _, sid := range []string{"fixed-id", real} {
		for range 6 {
			sub, err := c.Submit(ctx, "noop", nil, jobs.Session(sid))
			require.NoError(t, err)
			ids = append(ids, sub.ID)
		}
	}
	// Two jobs of a cool session: never reported.
	for range 2 {
		sub, err := c.Submit(ctx, "noop", nil, jobs.Session("cool"))
		require.NoError(t, err)
		ids = append(ids, sub.ID)
	}
	startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{
		"noop": worker.HandlerFunc(func(context.Context, *worker.Job) error { return nil }),
	})
	for _, id := range ids {
		waitJob(t, c, id, 10*time.Second)
	}
	require.Equal(t, 2, strings.Count(logs.String(), "hot session"), "want one warning per hot session:\n%s", logs.String())
	require.Equal(t, 1, strings.Count(logs.String(), "session=fixed-id backlog=6"), logs.String())
	require.Equal(t, 1, strings.Count(logs.String(), "session="+real+" backlog=6"), logs.String())
	require.NotContains(t, logs.String(), "session=cool")

	hot, err := tbl.HotSessions(ctx)
	require.NoError(t, err)
	require.Len(t, hot, 2)
	for _, h := range hot {
		require.EqualValues(t, 6, h.Backlog)
		require.Contains(t, []string{"fixed-id", real}, h.ID)
	}
}
