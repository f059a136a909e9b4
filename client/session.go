package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/sessionq/sessionq/api"
)

// Session is a session on the server, used through its connection. It is
// safe for concurrent use.
type Session struct {
	conn  *Conn
	id    string
	owner string
	app   string
	buf   buffer
}

// ID is the session's ID.
func (s *Session) ID() string { return s.id }

// Owner is the user the session acts as.
func (s *Session) Owner() string { return s.owner }

// Application is the application sub-session the session's calls name
// ("" for none).
func (s *Session) Application() string { return s.app }

// Conn is the connection the session is used through.
func (s *Session) Conn() *Conn { return s.conn }

type sessionKey struct{}

// Activate returns a context that carries s: every call of s's connection
// made with it acts in s. The previous session is still active in ctx.
func (s *Session) Activate(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFrom is the session ctx carries, nil for none.
func SessionFrom(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

// Close flushes the session's buffered writes and closes it on the
// server. A closed session answers ErrNotFound afterwards.
func (s *Session) Close(ctx context.Context) error {
	if err := s.Flush(ctx); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("closing session %s: %w", s.id, err)
	}
	if err := s.conn.do(ctx, nil, "DELETE", "/v1/sessions/"+url.PathEscape(s.id), nil, nil); err != nil {
		return fmt.Errorf("closing session %s: %w", s.id, err)
	}
	return nil
}

// Info is a session as the server describes it.
type Info = api.Session

// Info reads the session (out of session: its idle timer is left alone).
func (s *Session) Info(ctx context.Context) (*Info, error) {
	var out Info
	if err := s.conn.do(ctx, nil, "GET", "/v1/sessions/"+url.PathEscape(s.id), nil, &out, headerOutOfSession, "true"); err != nil {
		return nil, fmt.Errorf("reading session %s: %w", s.id, err)
	}
	return &out, nil
}

// EstablishOption says which session Establish opens or finds.
type EstablishOption func(*establishBody)

type establishBody = api.EstablishRequest

// Create creates a new session (bound to the TID, when one is given).
func Create() EstablishOption { return func(b *establishBody) { b.CreateSession = true } }

// TID binds a new session to terminal ID t; without Create, Establish
// finds the live session bound to t.
func TID(t string) EstablishOption { return func(b *establishBody) { b.TID = t } }

// Application names an application sub-session: the session's parameter
// calls and jobs act in it.
func Application(id string) EstablishOption { return func(b *establishBody) { b.ApplicationID = id } }

// IdleTimeout sets a new session's idle timeout. Default the server's.
func IdleTimeout(d time.Duration) EstablishOption {
	return func(b *establishBody) { b.IdleTimeout = d.String() }
}

// Establish creates a session (Create) or finds the one bound to a TID
// (TID alone), for the connection's user. It flushes the context's session
// first.
func (c *Conn) Establish(ctx context.Context, opts ...EstablishOption) (*Session, error) {
	var b establishBody
	for _, o := range opts {
		o(&b)
	}
	if !b.CreateSession && b.TID == "" {
		return nil, fmt.Errorf("%w: Establish needs client.Create() or client.TID(t)", ErrInvalid)
	}
	if err := c.Flush(ctx); err != nil {
		return nil, err
	}
	return c.establish(ctx, b)
}

// Login opens a session for user with their password, on this
// connection. It flushes the context's session first.
func (c *Conn) Login(ctx context.Context, user, password string, opts ...EstablishOption) (*Session, error) {
	if user == "" || password == "" {
		return nil, fmt.Errorf("%w: Login needs a user and a password", ErrInvalid)
	}
	b := establishBody{CreateSession: true}
	for _, o := range opts {
		o(&b)
	}
	b.User, b.Password = user, password
	if err := c.Flush(ctx); err != nil {
		return nil, err
	}
	s, err := c.establish(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("logging in as %q: %w", user, err)
	}
	return s, nil
}

// LoginAs opens a session for user without their password: the
// privileged login, refused with ErrForbidden unless the connection's user
// has the impersonate right. It flushes the context's session first.
func (c *Conn) LoginAs(ctx context.Context, user string, opts ...EstablishOption) (*Session, error) {
	if user == "" {
		return nil, fmt.Errorf("%w: LoginAs needs a user", ErrInvalid)
	}
	b := establishBody{CreateSession: true}
	for _, o := range opts {
		o(&b)
	}
	b.User = user
	if err := c.Flush(ctx); err != nil {
		return nil, err
	}
	s, err := c.establish(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("logging in as %q: %w", user, err)
	}
	return s, nil
}

func (c *Conn) establish(ctx context.Context, b establishBody) (*Session, error) {
	var out api.EstablishResponse
	if err := c.do(ctx, nil, "POST", "/v1/sessions", b, &out); err != nil {
		return nil, err
	}
	return &Session{conn: c, id: out.SessionID, owner: out.Session.Owner, app: out.ApplicationID}, nil
}

// buffer holds a session's parameter writes until a flush.
type buffer struct {
	mu  sync.Mutex
	set map[string]string
	del map[string]bool
}
