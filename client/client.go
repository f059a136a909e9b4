// Package client is the Go client of sessionq's HTTP gateway (sessionq
// serve): one connection, several sessions on it, a session activated for
// a context only, a pool of sessions for privileged code, listeners that
// get back the session they were attached under, and parameter writes
// buffered until a flush.
//
// The client speaks only the gateway's HTTP protocol: it never touches
// Redis, and every right is enforced by the server.
//
// # Sessions and contexts
//
// Dial opens a connection and its connection session (Conn.Session). More
// sessions come from Conn.Login, Conn.LoginAs and Conn.Establish. A
// session is activated for a context with Session.Activate: every call
// made with that context acts in that session; a call whose context
// carries no session of the connection acts in the connection session.
// Goroutines with different contexts act in different sessions at once;
// going back to the previous session is using the previous context.
//
// # Buffered writes, and when to flush
//
// SetParam and DeleteParam are buffered on the client, per session, and
// sent together in one all-or-nothing request by Flush. A read of a
// buffered key answers from the buffer; every other call that asks the
// server in a session (Param of another key, Params, files, Submit, Login,
// LoginAs, Establish, Close, Listen) first flushes that session's buffer.
// Flush before handing control back to a user, before a long wait, and
// before returning from code that may be called from anywhere: until then
// nobody else, no job and no other client sees the writes.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sessionq/sessionq/api"
)

// Protocol names of the gateway.
const (
	headerSession      = api.HeaderSession
	headerApplication  = api.HeaderApplication
	headerOutOfSession = api.HeaderOutOfSession
)

// Defaults of the Dial options.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultRetries        = 3
	DefaultBackoff        = 50 * time.Millisecond
)

// Credentials authenticate a connection: Token or Password.
type Credentials interface{ credentials() }

type tokenCreds struct{ token string }
type passwordCreds struct{ user, password string }

func (tokenCreds) credentials()    {}
func (passwordCreds) credentials() {}

// Token authenticates with an API token (sessionq user token create).
func Token(t string) Credentials { return tokenCreds{t} }

// Password authenticates with a user name and password: Dial logs in
// (POST /v1/login) and uses the token it answers.
func Password(user, password string) Credentials { return passwordCreds{user, password} }

// Option configures Dial.
type Option func(*config)

type config struct {
	noSess  bool
	hc      *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
}

// HTTPClient makes the connection use hc (its Timeout should be 0: streams
// are long). Default a keep-alive client of its own.
func HTTPClient(hc *http.Client) Option { return func(c *config) { c.hc = hc } }

// WithoutConnectionSession opens no connection session: Session is nil,
// and a call whose context carries no session either acts outside any
// session (Submit, Job, Wait, Cancel) or fails with ErrInvalid (parameters,
// files, Listen). For one-shot tools and privileged services that only
// act in the sessions they open.
func WithoutConnectionSession() Option { return func(c *config) { c.noSess = true } }

// RequestTimeout bounds each request but event streams. Default 30s.
func RequestTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// Retries sets how many times an idempotent request (GET, PUT, DELETE) is
// tried again after a transport error or a 503, waiting backoff, then
// twice that, and so on. Default 3 times from 50ms. POST is never retried.
func Retries(n int, backoff time.Duration) Option {
	return func(c *config) { c.retries, c.backoff = n, backoff }
}

// Conn is a connection to the gateway: one user's token, its HTTP
// connections, and the connection session. It is safe for concurrent use.
type Conn struct {
	base     *url.URL
	token    string
	hc       *http.Client
	ownHC    bool
	cfg      config
	sess     *Session
	requests atomic.Int64
	closed   atomic.Bool
}

// Dial connects to the gateway at rawURL (such as http://127.0.0.1:8080)
// with creds and opens the connection session.
func Dial(ctx context.Context, rawURL string, creds Credentials, opts ...Option) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: gateway URL %q: want http(s)://host:port", ErrInvalid, rawURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	cfg := config{timeout: DefaultRequestTimeout, retries: DefaultRetries, backoff: DefaultBackoff}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.timeout <= 0 || cfg.retries < 0 || cfg.backoff < 0 {
		return nil, fmt.Errorf("%w: timeouts must be positive and retries not negative", ErrInvalid)
	}
	c := &Conn{base: u, cfg: cfg, hc: cfg.hc}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.ResponseHeaderTimeout = cfg.timeout
		c.hc, c.ownHC = &http.Client{Transport: tr}, true
	}
	switch cr := creds.(type) {
	case tokenCreds:
		if cr.token == "" {
			return nil, fmt.Errorf("%w: empty token", ErrInvalid)
		}
		c.token = cr.token
	case passwordCreds:
		var out api.LoginResponse
		body := api.LoginRequest{User: cr.user, Password: cr.password}
		if err := c.do(ctx, nil, "POST", "/v1/login", body, &out); err != nil {
			c.closeIdle()
			return nil, fmt.Errorf("logging in as %q: %w", cr.user, err)
		}
		c.token = out.Token
	default:
		return nil, fmt.Errorf("%w: Dial needs client.Token or client.Password", ErrInvalid)
	}
	if cfg.noSess {
		return c, nil
	}
	s, err := c.establish(ctx, establishBody{CreateSession: true})
	if err != nil {
		c.closeIdle()
		return nil, fmt.Errorf("opening the connection session: %w", err)
	}
	c.sess = s
	return c, nil
}

// Session is the connection session (nil with WithoutConnectionSession).
func (c *Conn) Session() *Session { return c.sess }

// Attach is a handle on the existing session id, to use through this
// connection (opts: Application only). The server checks at each call that
// the connection may use it; Attach itself sends nothing.
func (c *Conn) Attach(id string, opts ...EstablishOption) (*Session, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty session ID", ErrInvalid)
	}
	var b establishBody
	for _, o := range opts {
		o(&b)
	}
	return &Session{conn: c, id: id, app: b.ApplicationID}, nil
}

// Requests is the number of HTTP requests the connection has sent
// (retries included): what buffering saves.
func (c *Conn) Requests() int64 { return c.requests.Load() }

// Close flushes and closes the connection session and lets go of the
// HTTP connections. Other sessions stay open on the server until closed
// or expired. Calling Close twice returns nil.
func (c *Conn) Close(ctx context.Context) error {
	if c.closed.Load() {
		return nil
	}
	var err error
	if c.sess != nil {
		err = c.sess.Close(ctx)
	}
	c.closed.Store(true)
	c.closeIdle()
	if errors.Is(err, ErrNotFound) {
		err = nil // expired already
	}
	return err
}

func (c *Conn) closeIdle() {
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
}

// sessionFor is the session a call with ctx acts in: nil for none.
func (c *Conn) sessionFor(ctx context.Context) *Session {
	if s := SessionFrom(ctx); s != nil && s.conn == c {
		return s
	}
	return c.sess
}

// errNoSession: a call that needs a session got none.
var errNoSession = fmt.Errorf("%w: no session: activate one in the context (the connection has no connection session)", ErrInvalid)

// needSession is the session a call with ctx acts in, or errNoSession.
func (c *Conn) needSession(ctx context.Context) (*Session, error) {
	if s := c.sessionFor(ctx); s != nil {
		return s, nil
	}
	return nil, errNoSession
}

// idempotent methods are retried.
func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete
}

// do sends one request in session s (nil: none), with body as JSON (or
// []byte as raw), and decodes a JSON answer into out (nil: discard; *[]byte:
// raw). Idempotent requests are retried on transport errors and 503s.
func (c *Conn) do(ctx context.Context, s *Session, method, path string, body, out any, hdr ...string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	var raw []byte
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		raw, ctype = b, "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		raw, ctype = j, "application/json"
	}
	tries := 1
	if idempotent(method) {
		tries += c.cfg.retries
	}
	wait := c.cfg.backoff
	var err error
	for i := 0; i < tries; i++ {
		if i > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%s %s: %w (last: %w)", method, path, ctx.Err(), err)
			case <-t.C:
			}
			wait *= 2
		}
		err = c.once(ctx, s, method, path, ctype, raw, out, hdr)
		if err == nil || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (c *Conn) once(ctx context.Context, s *Session, method, path, ctype string, raw []byte, out any, hdr []string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	res, err := c.send(ctx, s, method, path, ctype, raw, hdr)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if err := answerErr(method, path, res); err != nil {
		return err
	}
	switch o := out.(type) {
	case nil:
		_, _ = io.Copy(io.Discard, res.Body)
	case *[]byte:
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return fmt.Errorf("%s %s: reading the answer: %w: %w", method, path, ErrUnavailable, err)
		}
		*o = b
	default:
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// send sends a request and returns the answer, whatever its status; a
// transport error is ErrUnavailable.
func (c *Conn) send(ctx context.Context, s *Session, method, path, ctype string, raw []byte, hdr []string) (*http.Response, error) {
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrInvalid, method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if s != nil {
		req.Header.Set(headerSession, s.id)
		if s.app != "" {
			req.Header.Set(headerApplication, s.app)
		}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c.requests.Add(1)
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, fmt.Errorf("%s %s: %w: %w", method, path, ErrUnavailable, err)
	}
	return res, nil
}

// answerErr is the *Error of an error answer, nil for a success.
func answerErr(method, path string, res *http.Response) error {
	if res.StatusCode < 400 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var eb api.Error
	e := &Error{Status: res.StatusCode, Op: method + " " + path}
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	} else {
		e.Code, e.Message = "http_"+res.Status, http.StatusText(res.StatusCode)
	}
	return e
}
