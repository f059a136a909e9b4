package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
	"github.com/sessionq/sessionq/worker"
)

func TestMain(m *testing.M) {
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	redistest.Main(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a gateway over loopback on a Redis database of its own, with a
// real worker and the session table attached.
type env struct {
	t     testing.TB
	rdb   *redis.Client
	url   string
	tbl   *sessiontable.Table
	jobs  *jobs.Client
	users *users.Store
	srv   *gateway.Server
	base  string
	hc    *http.Client

	// release lets "block" jobs end.
	release chan struct{}

	spec   *openapi3.T
	router routers.Router
	mu     sync.Mutex
	seen   map[string]bool // operation IDs answered and validated
}

type envOptions struct {
	table    sessiontable.Config
	gateway  gateway.Config
	noWorker bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	rdb, url := redistest.Client(t)
	o.table.Logger = quiet
	if o.table.TempDir == "" {
		o.table.TempDir = t.TempDir()
	}
	tbl, err := sessiontable.New(rdb, o.table)
	require.NoError(t, err)
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	e := &env{t: t, rdb: rdb, url: url, tbl: tbl, jobs: jc, users: users.New(rdb),
		release: make(chan struct{}), seen: map[string]bool{}}
	if !o.noWorker {
		e.startWorker()
	}
	o.gateway.Addr = "127.0.0.1:0"
	if o.gateway.Logger == nil {
		o.gateway.Logger = quiet
	}
	if o.gateway.EventPoll == 0 {
		o.gateway.EventPoll = 20 * time.Millisecond
	}
	e.srv, err = gateway.New(rdb, tbl, jc, e.users, o.gateway)
	require.NoError(t, err)
	require.NoError(t, e.srv.Start(context.Background()))
	t.Cleanup(e.srv.Stop)
	e.base = "http://" + e.srv.Addr()
	e.hc = &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(e.hc.CloseIdleConnections)
	e.loadSpec()
	return e
}

func (e *env) startWorker() {
	w, err := worker.New(e.rdb, worker.Config{
		Concurrency: 4, Lease: 5 * time.Second, ShutdownGrace: time.Second, PollInterval: 5 * time.Millisecond,
		RetryDelay: func(int, error) time.Duration { return 10 * time.Millisecond }, Logger: quiet, Attacher: worker.SessionTable(e.tbl),
	})
	require.NoError(e.t, err)
	require.NoError(e.t, w.Handle("echo", worker.HandlerFunc(func(_ context.Context, j *worker.Job) error {
		j.SetResult(j.Payload)
		return nil
	})))
	require.NoError(e.t, w.Handle("block", worker.HandlerFunc(func(ctx context.Context, j *worker.Job) error {
		select {
		case <-e.release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})))
	require.NoError(e.t, w.Handle("flaky", worker.HandlerFunc(func(_ context.Context, j *worker.Job) error {
		if j.Attempt == 1 {
			return errors.New("first attempt fails on purpose")
		}
		return nil
	})))
	require.NoError(e.t, w.Handle("fail", worker.HandlerFunc(func(context.Context, *worker.Job) error {
		return fmt.Errorf("failed on purpose: %w", worker.ErrSkipRetry)
	})))
	require.NoError(e.t, w.Start(context.Background()))
	e.t.Cleanup(w.Stop)
}

// loadSpec reads the OpenAPI 3.0 description the server serves.
func (e *env) loadSpec() {
	res, err := e.hc.Get(e.base + "/openapi-3.0.json")
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, res.StatusCode, "%s", b)
	doc, err := openapi3.NewLoader().LoadFromData(b)
	require.NoError(e.t, err)
	require.NoError(e.t, doc.Validate(context.Background()), "the served OpenAPI document is valid")
	doc.Servers = openapi3.Servers{{URL: e.base}}
	e.spec = doc
	e.router, err = legacy.NewRouter(doc)
	require.NoError(e.t, err)
}

// user adds a user with rights and returns a token of theirs.
func (e *env) user(name string, rights ...string) string {
	e.t.Helper()
	ctx := context.Background()
	require.NoError(e.t, e.users.Add(ctx, name, "pw-"+name, rights))
	tok, _, err := e.users.CreateToken(ctx, name, "test", 0)
	require.NoError(e.t, err)
	return tok
}

// resp is an answer, read whole.
type resp struct {
	status int
	hdr    http.Header
	body   []byte
}

func (r *resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

// code is the error code of an error answer.
func (r *resp) code(t testing.TB) string {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "an error answer: %s", r.body)
	return e["code"].(string)
}

func (r *resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// req is one request: tok is the bearer token ("" for none), body is JSON
// (or raw []byte), hdr are header name, value pairs.
func (e *env) req(tok, method, path string, body any, hdr ...string) *resp {
	e.t.Helper()
	return e.reqWith(e.hc, tok, method, path, body, hdr...)
}

func (e *env) reqWith(hc *http.Client, tok, method, path string, body any, hdr ...string) *resp {
	e.t.Helper()
	r, err := e.newRequest(tok, method, path, body, hdr...)
	require.NoError(e.t, err)
	res, err := hc.Do(r)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	out := &resp{status: res.StatusCode, hdr: res.Header, body: b}
	e.validate(r, out)
	return out
}

// newRequest is a request to the gateway, as req describes it.
func (e *env) newRequest(tok, method, path string, body any, hdr ...string) (*http.Request, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/octet-stream"
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	r, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r, nil
}

// validate checks an answer against the OpenAPI description: its status
// is documented for the route, and its body fits the schema.
func (e *env) validate(r *http.Request, out *resp) {
	e.t.Helper()
	_, err := e.checkAnswer(r, out)
	require.NoError(e.t, err, "answer of %s %s fits the OpenAPI description: %s", r.Method, r.URL.Path, out)
}

// checkAnswer is validate that returns what is wrong instead of failing
// the test, and the ID of the operation the request reached ("" for a
// route the description does not document, such as /metrics).
func (e *env) checkAnswer(r *http.Request, out *resp) (string, error) {
	route, params, err := e.router.FindRoute(r)
	if err != nil {
		return "", nil // not a documented route: nothing to check
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 out.status, Header: out.hdr,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(out.body)
	id := route.Operation.OperationID
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return id, err
	}
	e.mu.Lock()
	e.seen[id] = true
	e.mu.Unlock()
	return id, nil
}

// dbsize is the number of keys in the env's database.
func (e *env) dbsize() int64 {
	n, err := e.rdb.DBSize(context.Background()).Result()
	require.NoError(e.t, err)
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", within, fmt.Sprintf(msg, args...))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitJob waits until job id ended, read through the gateway.
func (e *env) waitJob(tok, id string, hdr ...string) map[string]any {
	e.t.Helper()
	var m map[string]any
	eventually(e.t, 20*time.Second, func() bool {
		r := e.req(tok, "GET", "/v1/jobs/"+id, nil, hdr...)
		require.Equal(e.t, 200, r.status, "%s", r)
		m = r.json(e.t)
		st := jobs.State(m["state"].(string))
		return st.Terminal()
	}, "job %s to end", id)
	return m
}

// newJar is a client with a cookie jar, as a browser.
func (e *env) jarClient() *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func gatewayConfig(loginRate int) gateway.Config { return gateway.Config{LoginRate: loginRate} }

// clientFrom is a client whose connections come from local address ip
// (any of 127.0.0.0/8 on Linux).
func clientFrom(t testing.TB, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
