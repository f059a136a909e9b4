package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/client"
)

// flaky is a proxy to the gateway that answers 503 to the next n requests
// of a method, and counts what reached it.
type flaky struct {
	mu    sync.Mutex
	fail  map[string]int
	calls map[string]int
}

func (f *flaky) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls[r.Method]++
		fail := f.fail[r.Method] > 0
		if fail {
			f.fail[r.Method]--
		}
		f.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"try again"}}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *flaky) set(method string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method], f.calls = n, map[string]int{}
}

func (f *flaky) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// Idempotent requests are retried after a 503; a POST never is.
func TestRetriesIdempotentOnly(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	tok, err := st.user(ctx, "alice", userRights...)
	require.NoError(t, err)
	f := &flaky{fail: map[string]int{}, calls: map[string]int{}}
	c, err := client.Dial(ctx, f.start(t, st.url), client.Token(tok), client.Retries(3, time.Millisecond))
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close(ctx)) }()

	f.set("GET", 2)
	_, err = c.Params(ctx)
	require.NoError(t, err, "the third try succeeds")
	require.Equal(t, 3, f.count("GET"))

	f.set("PUT", 4)
	require.NoError(t, c.SetParam(ctx, "k", "v"))
	err = c.Flush(ctx)
	require.ErrorIs(t, err, client.ErrUnavailable, "four 503s: out of retries")
	require.Equal(t, 4, f.count("PUT"))
	require.Equal(t, 1, c.Buffered(ctx), "kept for the next flush")
	require.NoError(t, c.Flush(ctx))
	require.Equal(t, map[string]string{"k": "v"}, st.serverParams(t, c.Session().ID()))

	f.set("POST", 1)
	_, err = c.Submit(ctx, "echo", nil)
	require.ErrorIs(t, err, client.ErrUnavailable)
	require.Equal(t, 1, f.count("POST"), "a submit is not retried")
}

// Wait opens the job's event stream again when it drops.
func TestWaitReconnects(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	tok, err := st.user(ctx, "alice", userRights...)
	require.NoError(t, err)
	var d dropper
	c, err := client.Dial(ctx, st.url, client.Token(tok), client.HTTPClient(d.client(t)))
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close(ctx)) }()
	sub, err := c.Submit(ctx, "block", nil)
	require.NoError(t, err)
	eventually(t, 20*time.Second, func() bool {
		j, err := c.Job(ctx, sub.ID)
		require.NoError(t, err)
		return j.State == client.StateRunning
	}, "the job to run")
	type res struct {
		j   *client.Job
		err error
	}
	done := make(chan res, 1)
	before := c.Requests()
	go func() {
		j, err := c.Wait(ctx, sub.ID)
		done <- res{j, err}
	}()
	eventually(t, 20*time.Second, func() bool { return c.Requests() > before }, "Wait to open its stream")
	// The request is counted before its connection is dialled: drop until
	// Wait has opened its stream again.
	eventually(t, 20*time.Second, func() bool {
		d.drop()
		return c.Requests() > before+1
	}, "Wait to open its stream again")
	close(st.release)
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, client.StateSucceeded, r.j.State)
}
