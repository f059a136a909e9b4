package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
)

// runIn is run with stdin.
func runIn(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	r := result{out: &syncBuffer{}, err: &syncBuffer{}}
	root := NewRootCmd()
	root.SetArgs(args)
	root.SetOut(r.out)
	root.SetErr(r.err)
	root.SetIn(strings.NewReader(stdin))
	err := root.ExecuteContext(t.Context())
	return r.out.String(), err
}

// The README's walk-through.
func TestSessionWalkThrough(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	sq := func(args ...string) string {
		t.Helper()
		out, _, err := run(t, append([]string{"--redis", url, "session"}, args...)...)
		require.NoError(t, err, "session %v", args)
		return out
	}
	fails := func(want string, args ...string) {
		t.Helper()
		_, _, err := run(t, append([]string{"--redis", url, "session"}, args...)...)
		require.ErrorContains(t, err, want, "session %v", args)
	}

	out := sq("create", "--tid", "ws-042", "--owner", "alice", "--idle-timeout", "10m", "--param", "my_stored_info=3.14")
	require.Regexp(t, `^s[a-z2-7]{26}\n$`, out, "create prints the ID alone")
	id := strings.TrimSpace(out)

	require.Equal(t, id+"\n", sq("establish", "--tid", "ws-042", "--owner", "alice"))
	fails("a TID is required", "establish")
	fails("session not found", "establish", "--tid", "ws-999")
	fails("TID is bound to another session", "create", "--tid", "ws-042", "--owner", "alice")
	// TIDs are per owner: the default owner's ws-042 is not alice's.
	fails("session not found", "establish", "--tid", "ws-042")
	other := strings.TrimSpace(sq("establish", "--create", "--tid", "ws-043"))
	require.NotEqual(t, id, other)

	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(sq("get", id)), &info))
	require.Equal(t, id, info["sessionId"])
	require.Equal(t, "alice", info["owner"])
	require.Equal(t, "ws-042", info["TID"])
	require.Equal(t, "open", info["state"])
	require.Equal(t, "10m0s", info["idleTimeout"])

	list := sq("list", "--owner", "alice")
	require.Contains(t, list, id)
	require.NotContains(t, list, other)
	require.Contains(t, sq("list"), other)

	sq("param", "set", id, "lang=en", "greeting=hello world")
	require.Equal(t, "3.14\n", sq("param", "get", id, "my_stored_info"))
	sq("param", "set", id, "lang=de", "--application-id", "checkout")
	require.Equal(t, "de\n", sq("param", "get", id, "lang", "-a", "checkout"))
	require.Equal(t, "en\n", sq("param", "get", id, "lang"))
	var params map[string]string
	require.NoError(t, json.Unmarshal([]byte(sq("param", "list", id, "-a", "checkout")), &params))
	require.Equal(t, map[string]string{"my_stored_info": "3.14", "lang": "de", "greeting": "hello world"}, params)
	sq("param", "delete", id, "greeting")
	fails("parameter not found", "param", "get", id, "greeting")
	fails("want key=value", "param", "set", id, "novalue")

	local := filepath.Join(t.TempDir(), "data.xml")
	require.NoError(t, os.WriteFile(local, []byte("<doc/>"), 0o600))
	sq("file", "put", id, "data.xml", local)
	_, err := runIn(t, "from stdin", "--redis", url, "session", "file", "put", id, "notes.txt")
	require.NoError(t, err)
	require.Equal(t, "<doc/>", sq("file", "get", id, "data.xml"))
	require.Equal(t, "from stdin", sq("file", "get", id, "notes.txt"))
	files := sq("file", "list", id)
	require.Contains(t, files, "data.xml")
	require.Contains(t, files, "notes.txt")
	fails("invalid file name", "file", "put", id, "../escape", local)
	fails("invalid file name", "file", "get", id, "/etc/passwd")
	sq("file", "delete", id, "notes.txt")
	fails("file not found", "file", "get", id, "notes.txt")

	// submit gains --application-id and --out-of-session.
	la := func() string { return rdb.HGet(t.Context(), keys.Session(id), "la").Val() }
	before := la()
	out, _, err = run(t, "--redis", url, "submit", "--type", "doc.render", "--session", id,
		"--application-id", "checkout", "--out-of-session", "--process-in", "1h")
	require.NoError(t, err)
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	in, err := c.Get(t.Context(), strings.TrimSpace(out))
	require.NoError(t, err)
	require.Equal(t, "checkout", in.AppID)
	require.True(t, in.OutOfSession)
	require.Equal(t, before, la(), "an out-of-session submit refreshed the idle timer")

	sq("close", id)
	fails("session not found", "get", id)
	fails("session not found", "establish", "--tid", "ws-042", "--owner", "alice")
	ev, err := rdb.XRange(t.Context(), keys.Events, "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, ev, 1)
	require.Equal(t, "session.closed", ev[0].Values["type"])
}

func TestSessionBadInput(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--param", "nokey"}, "want key=value"},
		{[]string{"create", "--param", "a=1", "--param", "a=2"}, `--param "a" given twice`},
		{[]string{"create", "--idle-timeout", "1us"}, "invalid idle timeout"},
		{[]string{"create", "--idle-timeout", "-1s"}, "invalid --idle-timeout"},
		{[]string{"create", "--tid", "bad{tid}"}, `invalid TID "bad{tid}"`},
		{[]string{"create", "--owner", "a b"}, `invalid owner "a b"`},
		{[]string{"get", "not-a-session-id"}, "invalid session ID"},
		{[]string{"get"}, "session get takes a session ID, got 0 arguments"},
		{[]string{"param", "set", sessiontable.NewID()}, "takes a session ID and key=value"},
		{[]string{"file", "put", sessiontable.NewID(), "x", "a", "b"}, "got 4 arguments"},
		{[]string{"close", sessiontable.NewID()}, "session not found"},
	} {
		_, _, err := run(t, append([]string{"--redis", url, "session"}, tt.args...)...)
		require.ErrorContains(t, err, tt.want, "%v", tt.args)
	}
	n, err := rdb.DBSize(t.Context()).Result()
	require.NoError(t, err)
	require.Zero(t, n, "bad input wrote keys")
}

func TestSessionConfig(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sessionq.yaml")
	store := filepath.Join(dir, "files")
	require.NoError(t, os.WriteFile(cfg, []byte("session:\n  idle_timeout: 90s\n  max_per_owner: 1\n  dir: "+store+"\n"), 0o600))
	out, _, err := run(t, "--redis", url, "--config", cfg, "session", "create", "--owner", "u")
	require.NoError(t, err)
	id := strings.TrimSpace(out)
	_, _, err = run(t, "--redis", url, "--config", cfg, "session", "create", "--owner", "u")
	require.ErrorContains(t, err, "open session quota reached")
	out, _, err = run(t, "--redis", url, "--config", cfg, "session", "get", id)
	require.NoError(t, err)
	require.Contains(t, out, `"idleTimeout": "1m30s"`)
	local := filepath.Join(dir, "x")
	require.NoError(t, os.WriteFile(local, []byte("x"), 0o600))
	_, _, err = run(t, "--redis", url, "--config", cfg, "session", "file", "put", id, "x", local)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(store, id, "x"))
	require.NoError(t, err, "session.dir: the file is in the directory")
	require.Equal(t, "x", string(b))

	bad := filepath.Join(dir, "bad.yaml")
	for yaml, want := range map[string]string{
		"session:\n  idle_timout: 1m\n":   "unknown key session.idle_timout",
		"session:\n  idle_timeout: 10\n":  "invalid duration 10",
		"session:\n  idle_timeout: 0s\n":  "session.idle_timeout 0s: must be positive",
		"session:\n  hot_backlog: 0\n":    "session.hot_backlog 0",
		"session:\n  max_per_owner: -1\n": "session.max_per_owner -1",
	} {
		require.NoError(t, os.WriteFile(bad, []byte(yaml), 0o600))
		_, _, err := run(t, "--redis", url, "--config", bad, "session", "list")
		require.ErrorContains(t, err, want, yaml)
	}
}
