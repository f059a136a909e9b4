package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

func TestSubmitPrintsOnlyTheID(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	for _, args := range [][]string{
		{"--session", "user-42", "--payload", `{"doc":"a"}`},
		{"--payload", "plain"},
	} {
		out, _, err := run(t, append([]string{"submit", "--redis", url, "--type", "doc.render"}, args...)...)
		require.NoError(t, err)
		require.Regexp(t, `^[a-z0-9]+\n$`, out)
		id := strings.TrimSpace(out)
		c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
		require.NoError(t, err)
		in, err := c.Get(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, "doc.render", in.Type)
		require.Equal(t, jobs.Data(args[len(args)-1]), in.Payload)
	}
}

func TestSubmitPayloadFromFileAndStdin(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	file := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"from":"file"}`), 0o600))
	out, _, err := run(t, "submit", "--redis", url, "--type", "t", "--payload-file", file, "--session", "s")
	require.NoError(t, err)
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	in, err := c.Get(t.Context(), strings.TrimSpace(out))
	require.NoError(t, err)
	require.JSONEq(t, `{"from":"file"}`, string(in.Payload))
	require.Equal(t, "s", in.SessionID)
}

func TestSubmitBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	big := filepath.Join(t.TempDir(), "big")
	require.NoError(t, os.WriteFile(big, make([]byte, jobs.DefaultMaxPayload+1), 0o600))
	small := filepath.Join(t.TempDir(), "small")
	require.NoError(t, os.WriteFile(small, []byte("x"), 0o600))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"invalid session ID", []string{"--session", "bad{id}"}, `invalid session ID "bad{id}"`},
		{"session ID too long", []string{"--session", strings.Repeat("s", 129)}, "longer than 128 bytes"},
		{"invalid type", []string{"--type", "no spaces"}, `invalid job type "no spaces"`},
		{"invalid queue", []string{"--queue", "a:b"}, `invalid queue "a:b"`},
		{"oversized payload", []string{"--payload-file", big}, "payload too large"},
		{"both payloads", []string{"--payload", "x", "--payload-file", small}, "--payload and --payload-file are mutually exclusive"},
		{"bad policy", []string{"--policy", "maybe"}, `invalid --policy "maybe"`},
		{"negative max retry", []string{"--max-retry", "-1"}, "invalid max retry"},
		{"negative process-in", []string{"--session", "s", "--process-in", "-1s"}, "invalid process-in"},
		{"invalid duration", []string{"--timeout", "soon"}, `invalid argument "soon" for "--timeout"`},
		{"unknown flag", []string{"--bogus"}, "unknown flag: --bogus"},
		{"app without session", []string{"--application-id", "a1"}, "needs a session ID"},
		{"missing payload file", []string{"--payload-file", filepath.Join(t.TempDir(), "none")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rdb, url := redistest.Client(t)
			args := append([]string{"submit", "--redis", url, "--type", "t"}, tt.args...)
			out, _, err := run(t, args...)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "\n")
			require.Empty(t, out)
			n, err := rdb.DBSize(t.Context()).Result()
			require.NoError(t, err)
			require.Zero(t, n, "Redis was written to")
		})
	}
}

func TestSubmitUnreachableRedis(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"submit", "--type", "t"},
		{"job", "get", "jabc"},
		{"worker", "--exec", "t=cat"},
		{"scheduler"},
		{"dev"},
		{"demo"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			out, _, err := run(t, append(args, "--redis", "redis://127.0.0.1:1")...)
			require.ErrorContains(t, err, "cannot reach Redis at 127.0.0.1:1")
			require.NotContains(t, err.Error(), "\n")
			require.Empty(t, out)
		})
	}
}

func TestSubmitInvalidRedisURL(t *testing.T) {
	t.Parallel()
	_, _, err := run(t, "submit", "--type", "t", "--redis", "http://example.com")
	require.ErrorContains(t, err, `invalid Redis URL "http://example.com"`)
}

func TestJobGet(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	out, _, err := run(t, "submit", "--redis", url, "--type", "t", "--session", "s1", "--payload", "p")
	require.NoError(t, err)
	id := strings.TrimSpace(out)

	out, _, err = run(t, "job", "get", id, "--redis", url)
	require.NoError(t, err)
	var in api.Job
	require.NoError(t, json.Unmarshal([]byte(out), &in))
	require.Equal(t, id, in.ID)
	require.Equal(t, "s1", in.SessionID)
	require.Equal(t, int64(1), in.Seq)
	require.Equal(t, api.StateWaitingForHandler, in.State, "no live worker handles t")
}

func TestJobGetNotFound(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	out, _, err := run(t, "job", "get", "jnosuchjob", "--redis", url)
	require.EqualError(t, err, "job jnosuchjob not found (never submitted, or its record outlived its retention)")
	require.Empty(t, out)

	_, _, err = run(t, "job", "get", "bad{id}", "--redis", url)
	require.ErrorContains(t, err, `invalid job ID "bad{id}"`)
	_, _, err = run(t, "job", "get", "--redis", url)
	require.EqualError(t, err, "job get takes one job ID, got 0 arguments")
}

// --owner names the namespace of --idempotency-key: the same key in one
// namespace is one job, in two namespaces two jobs; a key reused for
// another kind of job is a conflict that submits nothing.
func TestSubmitIdempotencyOwner(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	submit := func(args ...string) (string, error) {
		out, _, err := run(t, append([]string{"submit", "--redis", url, "--type", "t"}, args...)...)
		return strings.TrimSpace(out), err
	}
	alice, err := submit("--idempotency-key", "k", "--owner", "alice")
	require.NoError(t, err)
	again, err := submit("--idempotency-key", "k", "--owner", "alice")
	require.NoError(t, err)
	require.Equal(t, alice, again)
	bob, err := submit("--idempotency-key", "k", "--owner", "bob")
	require.NoError(t, err)
	require.NotEqual(t, alice, bob)
	def, err := submit("--idempotency-key", "k")
	require.NoError(t, err)
	require.Equal(t, jobs.IDForIdempotencyKey("k"), def)
	require.Equal(t, jobs.IDForOwnerIdempotencyKey("alice", "k"), alice)

	n := rdb.DBSize(t.Context()).Val()
	_, err = submit("--idempotency-key", "k", "--owner", "alice", "--session", "s1")
	require.ErrorIs(t, err, jobs.ErrIdempotencyConflict)
	require.ErrorContains(t, err, "is bound to a plain job")
	require.Equal(t, n, rdb.DBSize(t.Context()).Val(), "a conflicting submit wrote keys")

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--idempotency-key", "k", "--owner", ""}, `invalid --owner "": must not be empty (omit --owner for the default namespace)`},
		{[]string{"--idempotency-key", "k", "--owner", "a b"}, `invalid owner "a b"`},
		{[]string{"--owner", "alice"}, "--owner needs --idempotency-key"},
	} {
		_, err := submit(tt.args...)
		require.ErrorContains(t, err, tt.want, "%v", tt.args)
	}
	require.Equal(t, n, rdb.DBSize(t.Context()).Val(), "a refused submit wrote keys")
}
