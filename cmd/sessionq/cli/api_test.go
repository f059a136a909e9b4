package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
	"github.com/sessionq/sessionq/worker"
)

// apiGateway starts a gateway with a worker that handles "echo", and
// returns its URL, the table and the user store.
func apiGateway(t *testing.T) (string, *sessiontable.Table, *users.Store) {
	t.Helper()
	url, _, tbl, us := apiGatewayRedis(t)
	return url, tbl, us
}

// apiGatewayRedis is apiGateway, with the URL of its Redis.
func apiGatewayRedis(t *testing.T) (string, string, *sessiontable.Table, *users.Store) {
	t.Helper()
	rdb, redisURL := redistest.Client(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet, TempDir: t.TempDir()})
	require.NoError(t, err)
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	w, err := worker.New(rdb, worker.Config{Concurrency: 2, PollInterval: 5 * time.Millisecond, Logger: quiet,
		ShutdownGrace: time.Second, Attacher: worker.SessionTable(tbl)})
	require.NoError(t, err)
	require.NoError(t, w.Handle("echo", worker.HandlerFunc(func(_ context.Context, j *worker.Job) error {
		j.SetResult(j.Payload)
		return nil
	})))
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(w.Stop)
	us := users.New(rdb)
	g, err := gateway.New(rdb, tbl, jc, us, gateway.Config{Addr: "127.0.0.1:0", Logger: quiet, EventPoll: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	t.Cleanup(g.Stop)
	return "http://" + g.Addr(), redisURL, tbl, us
}

// submit, job and session with --api talk to the gateway as the token's
// user; the gateway's rights apply. Not parallel: it sets SESSIONQ_TOKEN.
func TestAPIMode(t *testing.T) {
	url, tbl, us := apiGateway(t)
	ctx := context.Background()
	require.NoError(t, us.Add(ctx, "alice", "pw", []string{"read:own", "write:own", "submit:default/echo"}))
	tok, _, err := us.CreateToken(ctx, "alice", "cli", 0)
	require.NoError(t, err)

	// No token: a clear error, nothing sent.
	t.Setenv(envToken, "")
	_, _, err = run(t, "submit", "--api", url, "--type", "echo")
	require.ErrorContains(t, err, envToken)

	t.Setenv(envToken, tok)
	out, _, err := run(t, "session", "create", "--api", url, "--tid", "ws-1", "--param", "lang=en", "--param", "n=1")
	require.NoError(t, err)
	sid := strings.TrimSpace(out)
	m, err := tbl.Params(ctx, sid, sessiontable.OutOfSession())
	require.NoError(t, err)
	require.Equal(t, map[string]string{"lang": "en", "n": "1"}, m)

	_, _, err = run(t, "session", "param", "set", "--api", url, sid, "lang=fr", "x=2")
	require.NoError(t, err)
	out, _, err = run(t, "session", "param", "get", "--api", url, sid, "lang")
	require.NoError(t, err)
	require.Equal(t, "fr\n", out)
	// All or none: a bad key leaves every parameter as it was.
	_, _, err = run(t, "session", "param", "set", "--api", url, sid, "lang=de", "bad key=1")
	require.Error(t, err)
	out, _, err = run(t, "session", "param", "get", "--api", url, sid, "lang")
	require.NoError(t, err)
	require.Equal(t, "fr\n", out)

	out, _, err = run(t, "session", "get", "--api", url, sid)
	require.NoError(t, err)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	require.Equal(t, "alice", info["owner"])
	require.Equal(t, "ws-1", info["TID"])

	// SESSIONQ_API_URL instead of --api.
	t.Setenv(envAPIURL, url)
	out, _, err = run(t, "submit", "--type", "echo", "--session", sid, "--payload", "hi", "--wait")
	require.NoError(t, err)
	id := strings.TrimSpace(out)
	out, _, err = run(t, "job", "get", id)
	require.NoError(t, err)
	var j map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &j))
	require.Equal(t, "succeeded", j["state"])
	require.Equal(t, "hi", j["result"])
	require.Equal(t, sid, j["sessionId"])
	out, _, err = run(t, "job", "cancel", id)
	require.NoError(t, err)
	require.Equal(t, "succeeded\n", out)

	// The gateway's rights: alice may not submit another type.
	_, _, err = run(t, "submit", "--type", "other", "--payload", "x")
	require.ErrorContains(t, err, "forbidden")
	// Not covered: refused, not run against Redis.
	_, _, err = run(t, "session", "list")
	require.ErrorContains(t, err, "not available with --api")
	_, _, err = run(t, "session", "create", "--lifetime", "1h")
	require.ErrorContains(t, err, "--lifetime is not available with --api")
	// The token never shows in errors.
	t.Setenv(envAPIURL, "http://127.0.0.1:1")
	_, _, err = run(t, "job", "get", id)
	require.Error(t, err)
	require.NotContains(t, err.Error(), tok)
}

// job get --json prints the same object, api.Job, with or without --api:
// the same keys (camelCase) and the same values, for a JSON payload and for
// bytes that are not UTF-8. Not parallel: it sets SESSIONQ_TOKEN.
func TestJobGetSameWithOrWithoutAPI(t *testing.T) {
	url, redisURL, _, us := apiGatewayRedis(t)
	ctx := context.Background()
	require.NoError(t, us.Add(ctx, "alice", "pw", []string{"read:own", "write:own", "submit:default/echo"}))
	tok, _, err := us.CreateToken(ctx, "alice", "cli", 0)
	require.NoError(t, err)
	t.Setenv(envToken, tok)
	t.Setenv(envAPIURL, "")

	out, _, err := run(t, "session", "create", "--api", url)
	require.NoError(t, err)
	sid := strings.TrimSpace(out)
	binary := filepath.Join(t.TempDir(), "p.bin")
	require.NoError(t, os.WriteFile(binary, []byte{0xff, 0xfe, 'x'}, 0o600))
	cases := map[string][]string{
		"json":   {"--payload", `{"a":1,"b":[true]}`},
		"text":   {"--payload", "hi"},
		"binary": {"--payload-file", binary},
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			out, _, err := run(t, append([]string{"submit", "--api", url, "--type", "echo", "--session", sid, "--wait"}, payload...)...)
			require.NoError(t, err)
			id := strings.TrimSpace(out)
			viaAPI, _, err := run(t, "job", "get", "--api", url, id)
			require.NoError(t, err)
			viaRedis, _, err := run(t, "job", "get", "--redis", redisURL, id)
			require.NoError(t, err)
			var a, r map[string]any
			require.NoError(t, json.Unmarshal([]byte(viaAPI), &a))
			require.NoError(t, json.Unmarshal([]byte(viaRedis), &r))
			require.ElementsMatch(t, slices.Collect(maps.Keys(a)), slices.Collect(maps.Keys(r)), "keys\n--api: %s\n--redis: %s", viaAPI, viaRedis)
			require.Equal(t, a, r)
			require.Equal(t, viaAPI, viaRedis, "the same text")
			require.Equal(t, sid, r["sessionId"])
			require.Equal(t, "alice", r["owner"])
			require.Equal(t, "succeeded", r["state"])
			switch name {
			case "json":
				require.Equal(t, map[string]any{"a": 1.0, "b": []any{true}}, r["payload"])
				require.Equal(t, r["payload"], r["result"])
			case "text":
				require.Equal(t, "hi", r["payload"])
			case "binary":
				require.Equal(t, "//54", r["payloadBase64"])
				require.Equal(t, "//54", r["resultBase64"])
			}
		})
	}
}
