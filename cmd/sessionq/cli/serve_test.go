package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

func TestUserCommands(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	sq := func(stdin string, args ...string) (string, error) {
		t.Helper()
		return runIn(t, stdin, append([]string{"--redis", url, "user"}, args...)...)
	}
	_, err := sq("s3cret\n", "add", "alice", "--password-stdin", "--grant", "read:own", "--grant", "submit:default/*")
	require.NoError(t, err)
	_, err = sq("", "add", "alice")
	require.ErrorContains(t, err, "user exists")
	_, err = sq("", "add", "bob", "--grant", "fly")
	require.ErrorContains(t, err, "unknown right")
	_, err = sq("", "add", "bad name")
	require.ErrorContains(t, err, "invalid input")
	_, err = sq("", "add", "carol", "--password-stdin")
	require.ErrorContains(t, err, "empty")

	tok, err := sq("", "token", "create", "alice", "--label", "ci")
	require.NoError(t, err)
	require.Regexp(t, `^sqt_alice_[a-z2-7]{52}\n$`, tok, "the token alone on stdout")
	out, err := sq("", "token", "list", "alice", "--json")
	require.NoError(t, err)
	var toks []struct{ ID, Label string }
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var tk struct{ ID, Label string }
		require.NoError(t, json.Unmarshal([]byte(l), &tk), "JSON Lines: %s", out)
		toks = append(toks, tk)
	}
	require.Len(t, toks, 1)
	require.Equal(t, "ci", toks[0].Label)
	require.NotContains(t, out, strings.TrimSpace(tok), "never the token itself")

	out, err = sq("", "grant", "alice", "write:own")
	require.NoError(t, err)
	require.Contains(t, out, "write:own")
	out, err = sq("", "revoke", "alice", "read:own")
	require.NoError(t, err)
	require.NotContains(t, out, "read:own")
	out, err = sq("", "list", "--json")
	require.NoError(t, err)
	require.Equal(t, `{"name":"alice","rights":["submit:default/*","write:own"],"password":true}`+"\n", out)
	out, err = sq("", "list")
	require.NoError(t, err)
	require.Regexp(t, `^NAME +PASSWORD +RIGHTS\nalice +true +submit:default/\*,write:own\n$`, out)

	_, err = sq("", "token", "revoke", "alice", toks[0].ID)
	require.NoError(t, err)
	_, err = sq("", "token", "revoke", "alice", toks[0].ID)
	require.ErrorContains(t, err, "not found")
	_, err = sq("", "remove", "alice")
	require.NoError(t, err)
	_, err = sq("", "remove", "alice")
	require.ErrorContains(t, err, "not found")
}

// TestDevRunsTheGateway: dev prints an admin token and a curl line that
// works.
func TestDevRunsTheGateway(t *testing.T) {
	t.Parallel()
	port, err := redistest.FreePort()
	require.NoError(t, err)
	dev, stop := background(t, "dev", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--concurrency", "2",
		"--shutdown-grace", "200ms", "--gateway-addr", "127.0.0.1:0")
	eventually(t, 10*time.Second, func() bool { return strings.Contains(dev.out.String(), "Press Ctrl-C") },
		"dev did not start: "+dev.err.String())
	out := dev.out.String()
	tok := regexp.MustCompile(`export SESSIONQ_TOKEN=(sqt_\S+)`).FindStringSubmatch(out)
	require.NotNil(t, tok, out)
	base := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/v1/jobs`).FindStringSubmatch(out)
	require.NotNil(t, base, out)

	// What the printed curl line sends.
	req, err := http.NewRequest("POST", base[1]+"/v1/jobs", strings.NewReader(`{"type":"echo","payload":"hello"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok[1])
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode, "%s", b)
	var sub struct{ ID string }
	require.NoError(t, json.Unmarshal(b, &sub))
	eventually(t, 10*time.Second, func() bool {
		req, _ := http.NewRequest("GET", base[1]+"/v1/jobs/"+sub.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok[1])
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return strings.Contains(string(b), `"state":"succeeded"`) && strings.Contains(string(b), `"result":"hello"`)
	}, "the job to succeed")

	// Without the token: 401.
	res, err = http.Get(base[1] + "/v1/sessions")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)

	// The dashboard: its login page, and the printed token logs in.
	code, body := get(t, base[1]+"/ui/login")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Log in")
	nc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = nc.PostForm(base[1]+"/ui/login", url.Values{"token": {tok[1]}})
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/ui/sessions", res.Header.Get("Location"))
	http.DefaultClient.CloseIdleConnections()
	require.NoError(t, stop())
}

func TestServe(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	srv, stop := background(t, "--redis", url, "serve", "--addr", "127.0.0.1:0")
	var addr []string
	eventually(t, 10*time.Second, func() bool {
		addr = regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(srv.err.String())
		return addr != nil
	}, "serve did not start: "+srv.err.String())
	res, err := http.Get(addr[1] + "/readyz")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	http.DefaultClient.CloseIdleConnections()
	require.NoError(t, stop())
	_, _, err = run(t, "--redis", url, "serve", "--addr", "256.0.0.1:1")
	require.Error(t, err, "a bad address is an error")
}
