package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/internal/startstop"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

// An idle timeout above the table's maximum is refused (400) and creates
// nothing; so is a session for a user that does not exist, even through
// impersonate (404 user_not_found).
func TestEstablishRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	ops := e.user("ops", users.Impersonate)
	n := e.dbsize()

	r := e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true, "idleTimeout": "87600h"})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r)
	require.Equal(t, "invalid_request", r.code(t))
	require.Contains(t, string(r.body), "the max idle timeout")

	for _, body := range []map[string]any{
		{"createSession": true, "user": "ghost"},
		{"createSession": true, "user": "ghost", "TID": "ghost-term"},
		{"createSession": false, "user": "ghost", "TID": "ghost-term"},
	} {
		r = e.req(ops, "POST", "/v1/sessions", body)
		require.Equal(t, http.StatusNotFound, r.status, "%v: %s", body, r)
		require.Equal(t, "user_not_found", r.code(t))
	}
	require.Equal(t, n, e.dbsize(), "a refused establish wrote keys")

	// A user that exists gets the session, with the longest idle timeout.
	r = e.req(ops, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "alice", "idleTimeout": "24h"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r)
	// Without impersonate, a user that does not exist is not revealed.
	r = e.req(alice, "POST", "/v1/sessions", map[string]any{"createSession": true, "user": "ghost"})
	require.Equal(t, http.StatusForbidden, r.status, "%s", r)
}

// stream opens an event stream and returns its answer; closing the body
// ends the stream.
func (e *env) stream(tok, path string) *http.Response {
	e.t.Helper()
	r, err := http.NewRequest("GET", e.base+path, nil)
	require.NoError(e.t, err)
	r.Header.Set("Authorization", "Bearer "+tok)
	res, err := e.hc.Do(r)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		b, err := io.ReadAll(res.Body)
		require.NoError(e.t, err)
		e.validate(r, &resp{status: res.StatusCode, hdr: res.Header, body: b})
		res.Body = io.NopCloser(strings.NewReader(string(b)))
	}
	return res
}

// Event streams are capped per user and per gateway process: one more is
// refused with 429 too_many_streams in the error body, before any event;
// a stream that ends gives its place back.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true, gateway: gateway.Config{MaxStreams: 3, MaxStreamsPerUser: 2}})
	alice, bob, carol := e.user("alice", aliceRights...), e.user("bob", aliceRights...), e.user("carol", aliceRights...)
	session := func(tok string) string {
		r := e.req(tok, "POST", "/v1/sessions", map[string]any{"createSession": true})
		require.Equal(t, http.StatusCreated, r.status, "%s", r)
		return r.json(t)["sessionId"].(string)
	}
	sa, sb, sc := session(alice), session(bob), session(carol)
	r := e.req(alice, "POST", "/v1/jobs", map[string]any{"type": "block"})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r)
	job := r.json(t)["id"].(string)

	refused := func(res *http.Response, want string) {
		t.Helper()
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		var b gateway.ErrorBody
		require.NoError(t, json.NewDecoder(res.Body).Decode(&b))
		require.Equal(t, gateway.CodeTooManyStreams, b.Error.Code)
		require.Contains(t, b.Error.Message, want)
	}
	a1 := e.stream(alice, "/v1/sessions/"+sa+"/events")
	require.Equal(t, http.StatusOK, a1.StatusCode)
	a2 := e.stream(alice, "/v1/jobs/"+job+"/events")
	require.Equal(t, http.StatusOK, a2.StatusCode)
	refused(e.stream(alice, "/v1/sessions/"+sa+"/events"), "this user has 2 event streams open")
	refused(e.stream(alice, "/v1/jobs/"+job+"/events"), "this user has 2 event streams open")

	b1 := e.stream(bob, "/v1/sessions/"+sb+"/events")
	require.Equal(t, http.StatusOK, b1.StatusCode)
	refused(e.stream(carol, "/v1/sessions/"+sc+"/events"), "this gateway holds as many event streams")

	// Ending a stream frees its place, for its user and for the process.
	require.NoError(t, a1.Body.Close())
	var a3 *http.Response
	eventually(t, 10*time.Second, func() bool {
		a3 = e.stream(alice, "/v1/sessions/"+sa+"/events")
		return a3.StatusCode == http.StatusOK
	}, "alice's closed stream to give its place back")
	require.NoError(t, b1.Body.Close())
	eventually(t, 10*time.Second, func() bool {
		return e.stream(carol, "/v1/sessions/"+sc+"/events").StatusCode == http.StatusOK
	}, "bob's closed stream to give the process's place back")
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their files and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sessionq test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// newServer is a gateway on a Redis database of its own, without the test
// env's plain-HTTP assumptions; rawServer starts one.
func newServer(t *testing.T, cfg gateway.Config) (*gateway.Server, *users.Store) {
	t.Helper()
	rdb, _ := redistest.Client(t)
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet, TempDir: t.TempDir()})
	require.NoError(t, err)
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	us := users.New(rdb)
	cfg.Addr, cfg.Logger = "127.0.0.1:0", quiet
	srv, err := gateway.New(rdb, tbl, jc, us, cfg)
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv, us
}

func rawServer(t *testing.T, cfg gateway.Config) (*gateway.Server, *users.Store) {
	t.Helper()
	srv, us := newServer(t, cfg)
	require.NoError(t, srv.Start(context.Background()))
	return srv, us
}

// With a certificate the gateway serves HTTPS on a real listener, and its
// cookies (the session's and the dashboard's) are Secure even when
// CookieSecure is not set.
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	srv, us := rawServer(t, gateway.Config{TLSCertFile: certFile, TLSKeyFile: keyFile})
	ctx := context.Background()
	require.NoError(t, us.Add(ctx, "alice", "", []string{users.ReadOwn, users.WriteOwn}))
	tok, _, err := us.CreateToken(ctx, "alice", "test", 0)
	require.NoError(t, err)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + srv.Addr()

	res, err := hc.Get(base + "/healthz")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NotNil(t, res.TLS, "answered over TLS")

	r, err := http.NewRequest("POST", base+"/v1/sessions", strings.NewReader(`{"createSession":true}`))
	require.NoError(t, err)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	res, err = hc.Do(r)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)
	require.Len(t, res.Cookies(), 1)
	require.Equal(t, gateway.CookieSession, res.Cookies()[0].Name)
	require.True(t, res.Cookies()[0].Secure, "the session cookie is Secure over TLS")

	res, err = hc.PostForm(base+gateway.UIPath+"/login", url.Values{"token": {tok}})
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Len(t, res.Cookies(), 1)
	require.True(t, res.Cookies()[0].Secure, "the dashboard cookie is Secure over TLS")

	// Plain HTTP on the TLS port gets nothing served.
	res, err = http.Get("http://" + srv.Addr() + "/healthz")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)

	// A certificate that cannot be loaded: Start fails, and listens on
	// nothing.
	bad, _ := newServer(t, gateway.Config{TLSCertFile: certFile + ".missing", TLSKeyFile: keyFile})
	require.ErrorContains(t, bad.Start(ctx), "gateway: loading the TLS certificate and key")
	require.Empty(t, bad.Addr())
}

// /metrics on the gateway's address needs the token of a user with
// read:all (or admin); 401 without one, 403 without the right, in the
// gateway's error body.
func TestMetricsNeedToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	alice := e.user("alice", aliceRights...)
	reader := e.user("reader", users.ReadAll)
	admin := e.user("root", users.Admin)

	r := e.req("", "GET", "/metrics", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)
	require.Equal(t, "unauthenticated", r.code(t))
	require.Equal(t, "Bearer", r.hdr.Get("WWW-Authenticate"))
	require.NotContains(t, string(r.body), "asynq_queue_size")
	r = e.req("not-a-token", "GET", "/metrics", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)
	require.Equal(t, "unauthenticated", r.code(t))
	r = e.req(alice, "GET", "/metrics", nil)
	require.Equal(t, http.StatusForbidden, r.status, "%s", r)
	require.Equal(t, "forbidden", r.code(t))
	for _, tok := range []string{reader, admin} {
		r = e.req(tok, "GET", "/metrics", nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r)
		require.Contains(t, string(r.body), "sessionq_gateway_requests_total")
	}
}

// With MetricsAddr, /metrics is served there without a token, and no
// longer on Addr; the listener starts and stops with the server.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	srv, us := rawServer(t, gateway.Config{MetricsAddr: "127.0.0.1:0"})
	ctx := context.Background()
	require.NoError(t, us.Add(ctx, "root", "", []string{users.Admin}))
	tok, _, err := us.CreateToken(ctx, "root", "test", 0)
	require.NoError(t, err)
	maddr := srv.MetricsAddr()
	require.NotEmpty(t, maddr)
	require.NotEqual(t, srv.Addr(), maddr)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	res, err := hc.Get("http://" + maddr + "/metrics")
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(b), "sessionq_gateway_event_streams")
	res, err = hc.Get("http://" + maddr + "/v1/sessions")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode, "only /metrics on the metrics address")

	r, err := http.NewRequest("GET", "http://"+srv.Addr()+"/metrics", nil)
	require.NoError(t, err)
	r.Header.Set("Authorization", "Bearer "+tok)
	res, err = hc.Do(r)
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode, "not on Addr, even with a token")

	srv.Stop()
	_, err = hc.Get("http://" + maddr + "/metrics")
	require.Error(t, err, "the metrics listener stops with the server")
}

// The gateway has the one lifecycle of background components (startstop):
// Stop before Start returns at once and refuses a later Start, Stop twice
// is safe, and a started gateway stops when Start's ctx ends.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, gateway.Config{})
	srv.Stop()
	srv.Stop()
	require.ErrorIs(t, srv.Start(context.Background()), startstop.ErrStopped)

	srv, _ = newServer(t, gateway.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, srv.Start(ctx))
	require.ErrorIs(t, srv.Start(ctx), startstop.ErrStarted)
	cancel()
	select {
	case <-srv.Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not stop when Start's ctx ended")
	}
	srv.Stop()
	srv.Stop()
}
