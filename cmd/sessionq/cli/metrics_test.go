package cli

import (
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
)

// get GETs url without keeping the connection, and returns the status and
// body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// startOps serves serveMetrics for rdb on a free port and returns its base
// URL; it stops when the test ends.
func startOps(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	port, err := redistest.FreePort()
	require.NoError(t, err)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	stop, err := serveMetrics(t.Context(), addr, prometheus.NewRegistry(), rdb)
	require.NoError(t, err)
	t.Cleanup(stop)
	return "http://" + addr
}

// /healthz is up while the process is; /readyz follows Redis; `sessionq
// health` exits 0 only on a 2xx answer.
func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	up := startOps(t, rdb)

	port, err := redistest.FreePort() // nothing listens there
	require.NoError(t, err)
	gone := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: "s3cret-pw", MaxRetries: -1})
	t.Cleanup(func() { _ = gone.Close() })
	down := startOps(t, gone)

	for _, base := range []string{up, down} {
		code, body := get(t, base+"/healthz")
		require.Equal(t, http.StatusOK, code, base)
		require.Equal(t, "ok\n", body)
		code, _ = get(t, base+"/metrics")
		require.Equal(t, http.StatusOK, code)
	}
	code, body := get(t, up+"/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
	code, body = get(t, down+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.NotContains(t, body, "s3cret-pw")
	require.NotContains(t, body, strconv.Itoa(port))

	out, _, err := run(t, "health", "--url", up+"/readyz")
	require.NoError(t, err)
	require.Contains(t, out, "200 OK")
	_, _, err = run(t, "health", "--url", down+"/healthz")
	require.NoError(t, err)
	_, _, err = run(t, "health", "--url", down+"/readyz")
	require.ErrorContains(t, err, "503")
	_, _, err = run(t, "health", "--url", "http://127.0.0.1:"+strconv.Itoa(port)+"/healthz")
	require.ErrorContains(t, err, "probing")

	for _, bad := range []string{"", "ftp://x/healthz", "http:///healthz", "://"} {
		_, _, err = run(t, "health", "--url", bad)
		require.ErrorContains(t, err, "invalid --url", bad)
	}
	_, _, err = run(t, "health", "--url", up+"/healthz", "--timeout", "0s")
	require.ErrorContains(t, err, "invalid --timeout")
}
