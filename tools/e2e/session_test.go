package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
)

// A job run by a `sessionq worker` process sees its session (active flag,
// files as a directory, parameters file) and what it writes there is kept
// when it succeeds; a job of an unknown session ID runs inactive.
func TestWorkerProcessSeesSession(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe.sh")
	require.NoError(t, os.WriteFile(probe, []byte(`#!/bin/sh
echo "active=$SESSIONQ_SESSION_ACTIVE"
if [ "$SESSIONQ_SESSION_ACTIVE" = true ]; then
  cat "$SESSIONQ_SESSION_DIR/in.txt"
  echo "out of $SESSIONQ_JOB_ID" > "$SESSIONQ_SESSION_DIR/out.txt"
  cat "$SESSIONQ_SESSION_PARAMS"
fi
`), 0o755))
	start(t, "worker", "worker", "--redis", url, "--concurrency", "2", "--exec", "probe="+probe).ready(t, "worker started")
	tbl, err := sessiontable.New(rdb, sessiontable.Config{})
	require.NoError(t, err)
	s, err := tbl.Create(ctx, sessiontable.Spec{Owner: "alice"})
	require.NoError(t, err)
	require.NoError(t, tbl.PutFile(ctx, s.ID, "in.txt", []byte("hello from the session\n")))
	require.NoError(t, tbl.SetParam(ctx, s.ID, "lang", "en"))

	c := client(t, rdb)
	live, err := c.Submit(ctx, "probe", nil, jobs.Session(s.ID))
	require.NoError(t, err)
	unknown, err := c.Submit(ctx, "probe", nil, jobs.Session("no-such-session"))
	require.NoError(t, err)
	infos := waitAll(t, c, []string{live.ID, unknown.ID}, 30*time.Second)
	require.Equal(t, jobs.StateSucceeded, infos[live.ID].State, infos[live.ID].LastError)
	res := string(infos[live.ID].Result)
	require.Contains(t, res, "active=true")
	require.Contains(t, res, "hello from the session")
	require.Contains(t, res, `"lang": "en"`)
	out, err := tbl.File(ctx, s.ID, "out.txt")
	require.NoError(t, err)
	require.Equal(t, "out of "+live.ID, strings.TrimSpace(string(out)))
	require.Equal(t, "active=false\n", string(infos[unknown.ID].Result))
}
