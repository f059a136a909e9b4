package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"

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

// usable reports whether user u may use session in, opened by opener.
func usable(u *users.User, in *sessiontable.Info, opener string) bool {
	return u.Name == in.Owner || opener != "" && u.Name == opener || u.Has(users.Admin)
}

// middleware authenticates the request, reads which session it names,
// echoes it, and loads the session, before the operation runs.
func (s *Server) middleware(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	public, _ := op.Metadata["public"].(bool)
	establish, _ := op.Metadata["establish"].(bool)
	fail := func(err *apiError) { _ = huma.WriteErr(s.api, ctx, err.status, "", err) }

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
	if !public {
		u, err := s.authenticate(ctx)
		if err != nil {
			fail(err)
			return
		}
		sc.conn = u
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

func (s *Server) authenticate(ctx huma.Context) (*users.User, *apiError) {
	h := ctx.Header("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return nil, apiErr(http.StatusUnauthorized, CodeUnauthenticated, "send Authorization: Bearer TOKEN (POST /v1/login answers one)")
	}
	u, err := s.users.Authenticate(ctx.Context(), strings.TrimSpace(tok))
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
// idle timer refreshed (unless the request is out-of-session).
func (s *Server) loadSession(ctx context.Context, sc *scope, sid string) *apiError {
	notFound := apiErr(http.StatusNotFound, CodeSessionNotFound, "no such session")
	in, attrs, err := s.table.GetAttrs(ctx, sid, sessiontable.OutOfSession())
	switch {
	case errors.Is(err, sessiontable.ErrNotFound):
		return notFound
	case err != nil:
		return s.internal(ctx, "reading session", err)
	}
	if !usable(sc.conn, in, attrs["opener"]) {
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
	sc.sess, sc.opener = in, attrs["opener"]
	sc.owner = &users.User{Name: in.Owner}
	if in.Owner == sc.conn.Name {
		sc.owner = sc.conn
	} else {
		o, err := s.users.Get(ctx, in.Owner)
		switch {
		case err == nil:
			sc.owner = o
		case !errors.Is(err, users.ErrNotFound) && !errors.Is(err, users.ErrInvalid):
			return s.internal(ctx, "reading the session's owner", err)
		}
	}
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
