package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

// Ref is how a request names its session, sub-session and out-of-session
// flag. Every operation's input embeds it, so that the OpenAPI description
// lists the parameters; the gateway's middleware reads them (header before
// cookie before query) before the operation runs.
type Ref struct {
	HeaderSession string `header:"Sessionq-Session" doc:"The request's session (first choice)"`
	CookieSession string `cookie:"sessionq_session" doc:"The request's session (second choice)"`
	QuerySession  string `query:"sessionId" doc:"The request's session (third choice)"`
	HeaderApp     string `header:"Sessionq-Application" doc:"Application sub-session (first choice)"`
	QueryApp      string `query:"applicationId" doc:"Application sub-session"`
	HeaderOOS     string `header:"Sessionq-Out-Of-Session" enum:"true,false" doc:"true: leave the session's idle timer alone"`
	QueryOOS      string `query:"outOfSession" enum:"true,false" doc:"true: leave the session's idle timer alone"`
}

// scope is who a request acts as, and in which session.
type scope struct {
	conn   *users.User        // the connection's user
	token  string             // the connection's bearer token
	addr   string             // the client address (see Server.clientAddr)
	sess   *sessiontable.Info // the request's session; nil for none
	opener string             // the connection user that opened sess
	owner  *users.User        // sess's owner (rights empty when not a user)
	app    string             // application sub-session
	oos    bool               // out-of-session
	opts   []sessiontable.CallOption
}

// actor is the user whose rights a write uses: the session's owner, else
// the connection's user.
func (sc *scope) actor() *users.User {
	if sc.sess != nil {
		return sc.owner
	}
	return sc.conn
}

// canRead: what both the connection's user and the session's owner may read.
func (sc *scope) canRead(owner string) bool {
	return sc.conn.CanRead(owner) && (sc.sess == nil || sc.owner.CanRead(owner))
}

// canWrite: what the session's owner (else the connection's user) may write.
func (sc *scope) canWrite(owner string) bool { return sc.actor().CanWrite(owner) }

func (sc *scope) jobOpts() []jobs.Option {
	if sc.sess == nil {
		return nil
	}
	o := []jobs.Option{jobs.Session(sc.sess.ID)}
	if sc.app != "" {
		o = append(o, jobs.Application(sc.app))
	}
	if sc.oos {
		o = append(o, jobs.OutOfSession())
	}
	return o
}

type scopeKey struct{}

func scopeOf(ctx context.Context) *scope {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}

// Session attributes (sessiontable.SetAttr) the gateway keeps.
const (
	// attrOpener: the connection user that opened the session.
	attrOpener = "opener"
	// attrVia: how a session for another user was opened, viaImpersonate
	// or viaPassword.
	attrVia = "via"
	// attrOwnerEpoch: with viaPassword, the owner's auth epoch then.
	attrOwnerEpoch = "ownerEpoch"

	viaImpersonate = "impersonate"
	viaPassword    = "password"
)

// usable reports whether user u may use session in (its attributes attrs,
// its owner's user owner): its owner and admins may; the connection user
// that opened it for its owner may while what let them open it holds:
// the impersonate right, or the owner's password unchanged since (same
// auth epoch). Anyone else may not.
func usable(u *users.User, in *sessiontable.Info, attrs map[string]string, owner *users.User) bool {
	switch {
	case u.Name == in.Owner || u.Has(users.Admin):
		return true
	case attrs[attrOpener] == "" || u.Name != attrs[attrOpener]:
		return false
	}
	switch attrs[attrVia] {
	case viaImpersonate:
		return u.Has(users.Impersonate)
	case viaPassword:
		return owner != nil && owner.Password && attrs[attrOwnerEpoch] == strconv.FormatInt(owner.Epoch, 10)
	}
	return false
}

// sessionOwner reads the user that owns a session (u when it is u; a user
// with no rights when the owner is no user).
func (s *Server) sessionOwner(ctx context.Context, u *users.User, owner string) (*users.User, error) {
	if owner == u.Name {
		return u, nil
	}
	o, err := s.users.Get(ctx, owner)
	switch {
	case err == nil:
		return o, nil
	case errors.Is(err, users.ErrNotFound) || errors.Is(err, users.ErrInvalid):
		return &users.User{Name: owner}, nil
	}
	return nil, err
}

// mayUse reads the owner of session in and checks that u may use it.
func (s *Server) mayUse(ctx context.Context, u *users.User, in *sessiontable.Info, attrs map[string]string) (*users.User, bool, error) {
	owner, err := s.sessionOwner(ctx, u, in.Owner)
	if err != nil {
		return nil, false, err
	}
	return owner, usable(u, in, attrs, owner), nil
}

// streamRecheck is how often an event stream checks that its token and
// the right that let it see its session still hold.
const streamRecheck = time.Second

// stillAllowed re-checks, for an event stream of the request scope sc,
// that its token still authenticates, that its user may still use its
// session, and what show asks of the fresh scope. A Redis error answers
// true: the stream asks again at the next check. A session gone answers
// true too: the stream tells its end itself.
func (s *Server) stillAllowed(ctx context.Context, sc *scope, show func(*scope) bool) bool {
	if sc == nil || sc.conn == nil {
		return false
	}
	u, err := s.users.Authenticate(ctx, sc.token)
	switch {
	case errors.Is(err, users.ErrUnauthenticated):
		return false
	case err != nil:
		return true
	}
	fresh := *sc
	fresh.conn = u
	if sc.sess != nil {
		in, attrs, err := s.table.GetAttrs(ctx, sc.sess.ID, sessiontable.OutOfSession())
		if err != nil {
			return true
		}
		owner, ok, err := s.mayUse(ctx, u, in, attrs)
		switch {
		case err != nil:
			return true
		case !ok:
			return false
		}
		fresh.owner = owner
	}
	return show(&fresh)
}

// middleware authenticates the request, reads which session it names,
// echoes it, and loads the session, before the operation runs.
func (s *Server) middleware(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	public, _ := op.Metadata["public"].(bool)
	establish, _ := op.Metadata["establish"].(bool)
	fail := func(err *apiError) { writeErr(ctx, err) }

	sc := &scope{}
	var sid string
	if !public && !establish {
		sid = ctx.Header(HeaderSession)
		if sid == "" {
			if c, err := huma.ReadCookie(ctx, CookieSession); err == nil {
				sid = c.Value
			}
		}
		if sid == "" {
			sid = ctx.Query(QuerySession)
		}
		if strings.HasPrefix(op.Path, "/v1/sessions/{id}") {
			sid = ctx.Param("id")
		}
		if sid != "" {
			if err := sessiontable.ValidateID(sid); err != nil {
				fail(apiErr(http.StatusBadRequest, CodeInvalidSession, err.Error()))
				return
			}
			ctx.SetHeader(HeaderSession, sid)
		}
		sc.app = ctx.Header(HeaderApplication)
		if sc.app == "" {
			sc.app = ctx.Query(QueryApplication)
		}
		if sc.app != "" {
			if err := jobs.ValidateApplicationID(sc.app); err != nil {
				fail(apiErr(http.StatusBadRequest, CodeInvalidRequest, err.Error()))
				return
			}
			if sid == "" {
				fail(apiErr(http.StatusBadRequest, CodeInvalidRequest, "an application ID needs a session"))
				return
			}
			ctx.SetHeader(HeaderApplication, sc.app)
		}
		for _, v := range []string{ctx.Header(HeaderOutOfSession), ctx.Query(QueryOutOfSession)} {
			switch v {
			case "", "false":
			case "true":
				sc.oos = true
			default:
				fail(apiErr(http.StatusBadRequest, CodeInvalidRequest, "the out-of-session flag is true or false"))
				return
			}
		}
	}
	var xff []string
	ctx.EachHeader(func(name, value string) {
		if strings.EqualFold(name, "X-Forwarded-For") {
			xff = append(xff, value)
		}
	})
	sc.addr = s.clientAddr(ctx.RemoteAddr(), xff)
	if !public {
		u, err := s.authenticate(ctx)
		if err != nil {
			fail(err)
			return
		}
		sc.conn, sc.token = u, bearer(ctx)
		observed(ctx.Context(), u.Name)
	}
	if sid != "" {
		if err := s.loadSession(ctx.Context(), sc, sid); err != nil {
			fail(err)
			return
		}
	}
	next(huma.WithValue(ctx, scopeKey{}, sc))
}

// bearer is the request's bearer token, "" for none.
func bearer(ctx huma.Context) string {
	tok, _ := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
	return strings.TrimSpace(tok)
}

func (s *Server) authenticate(ctx huma.Context) (*users.User, *apiError) {
	tok := bearer(ctx)
	if !strings.HasPrefix(ctx.Header("Authorization"), "Bearer ") || tok == "" {
		return nil, apiErr(http.StatusUnauthorized, CodeUnauthenticated, "send Authorization: Bearer TOKEN (POST /v1/login answers one)")
	}
	u, err := s.users.Authenticate(ctx.Context(), tok)
	switch {
	case errors.Is(err, users.ErrUnauthenticated):
		return nil, apiErr(http.StatusUnauthorized, CodeUnauthenticated, "invalid or revoked token")
	case err != nil:
		return nil, s.internal(ctx.Context(), "authenticating", err)
	}
	return u, nil
}

// loadSession reads session sid for sc: unknown and unusable sessions are
// both session_not_found. Only once the session is known usable is its
// idle timer refreshed (unless the request is out-of-session): a refused
// use leaves it alone.
func (s *Server) loadSession(ctx context.Context, sc *scope, sid string) *apiError {
	notFound := apiErr(http.StatusNotFound, CodeSessionNotFound, "no such session")
	in, attrs, err := s.table.GetAttrs(ctx, sid, sessiontable.OutOfSession())
	switch {
	case errors.Is(err, sessiontable.ErrNotFound):
		return notFound
	case err != nil:
		return s.internal(ctx, "reading session", err)
	}
	owner, ok, err := s.mayUse(ctx, sc.conn, in, attrs)
	switch {
	case err != nil:
		return s.internal(ctx, "reading the session's owner", err)
	case !ok:
		return notFound
	}
	if sc.app != "" {
		sc.opts = append(sc.opts, sessiontable.Application(sc.app))
	}
	if sc.oos {
		sc.opts = append(sc.opts, sessiontable.OutOfSession())
	} else if in, err = s.table.Get(ctx, sid); err != nil {
		if errors.Is(err, sessiontable.ErrNotFound) {
			return notFound
		}
		return s.internal(ctx, "reading session", err)
	}
	sc.sess, sc.opener, sc.owner = in, attrs[attrOpener], owner
	return nil
}

// internal logs err and answers 503 without its details.
func (s *Server) internal(ctx context.Context, doing string, err error) *apiError {
	if errors.Is(err, context.Canceled) {
		return apiErr(http.StatusServiceUnavailable, CodeUnavailable, "request cancelled")
	}
	s.log.ErrorContext(ctx, "gateway: "+doing, "err", err)
	return apiErr(http.StatusServiceUnavailable, CodeUnavailable, "the service is unavailable; try again")
}
