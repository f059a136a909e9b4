package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// camelKey is a JSON key of the CLI's output: camelCase, or TID.
var camelKey = regexp.MustCompile(`^([a-z][a-zA-Z0-9]*|TID)$`)

// requireCamel fails on a key, at any depth, that is not camelCase.
func requireCamel(t *testing.T, v any, where string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			require.Regexp(t, camelKey, k, where)
			requireCamel(t, x, where)
		}
	case []any:
		for _, x := range v {
			requireCamel(t, x, where)
		}
	}
}

// Every listing command follows one rule: a table (a header, then a row
// per item) without --json, JSON Lines of camelCase objects with --json;
// an empty list is the header alone, or nothing with --json.
func TestListingOutputRule(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	sq := func(args ...string) string {
		t.Helper()
		out, _, err := run(t, append(args, "--redis", url)...)
		require.NoError(t, err, "%v", args)
		return out
	}
	// Empty first.
	empty := [][]string{
		{"session", "list"}, {"session", "hot"}, {"session", "jobs", "nosuch"}, {"job", "list"}, {"job", "dead"},
		{"queue", "list"}, {"user", "list"}, {"schedule", "list"},
	}
	for _, args := range empty {
		require.Empty(t, sq(append(args, "--json")...), "%v --json: nothing", args)
		out := sq(args...)
		require.Regexp(t, `^[A-Z][A-Z ]*( {2,}[A-Z][A-Z ]*)*\n$`, out, "%v: the header alone", args)
	}

	sid := strings.TrimSpace(sq("session", "create", "--owner", "alice", "--tid", "ws-1"))
	_, err := runIn(t, "hello", "--redis", url, "session", "file", "put", sid, "a.txt")
	require.NoError(t, err)
	sq("submit", "--type", "echo", "--session", sid, "--payload", `{"a":1}`)
	sq("submit", "--type", "echo", "--payload", "x")
	_, err = runIn(t, "", "--redis", url, "user", "add", "alice", "--grant", "read:own")
	require.NoError(t, err)
	_, err = runIn(t, "", "--redis", url, "user", "token", "create", "alice")
	require.NoError(t, err)

	lists := []struct {
		args []string
		n    int
	}{
		{[]string{"session", "list"}, 1},
		{[]string{"session", "jobs", sid}, 1},
		{[]string{"session", "file", "list", sid}, 1},
		{[]string{"job", "list"}, 2},
		{[]string{"queue", "list"}, 1},
		{[]string{"user", "list"}, 1},
		{[]string{"user", "token", "list", "alice"}, 1},
	}
	for _, l := range lists {
		out := sq(append(l.args, "--json")...)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, lines, l.n, "%v --json: one object per line\n%s", l.args, out)
		for _, line := range lines {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), "%v --json: a JSON object per line: %q", l.args, line)
			requireCamel(t, m, strings.Join(l.args, " "))
		}
		table := strings.Split(strings.TrimSuffix(sq(l.args...), "\n"), "\n")
		require.Len(t, table, l.n+1, "%v: a header and a row per item", l.args)
		require.Regexp(t, `^[A-Z][A-Z ]*( {2,}[A-Z][A-Z ]*)*$`, table[0], "%v: the header", l.args)
	}
	var s map[string]any
	require.NoError(t, json.Unmarshal([]byte(sq("session", "list", "--json")), &s))
	require.Equal(t, sid, s["sessionId"])
	require.Equal(t, "ws-1", s["TID"])
	require.Contains(t, s, "lastAccess")
}
