package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/users"
)

type loginIn struct {
	Body api.LoginRequest
}

type loginOut struct {
	Body api.LoginResponse
}

func (s *Server) registerLogin() {
	huma.Register(s.api, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/v1/login", Tags: []string{"users"},
		Summary: "Log in with a user name and password; answers an API token",
		Description: "Throttled per user name and client address together, with an exponential backoff after consecutive failures " +
			"(so that failures from elsewhere never block the real user), per client address, and by a ceiling of failures per minute. " +
			"A wrong user and a wrong password get the same answer. The token ends at its expiry, at logout, or when the user's password changes.",
		Metadata: public, Security: []map[string][]string{},
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests},
	}, func(ctx context.Context, in *loginIn) (*loginOut, error) {
		u, aerr := s.checkPassword(ctx, in.Body.User, in.Body.Password)
		if aerr != nil {
			return nil, aerr
		}
		tok, t, err := s.users.CreateLoginToken(ctx, u, "login", s.cfg.LoginTokenTTL)
		if err != nil {
			return nil, s.internal(ctx, "creating a token", err)
		}
		out := &loginOut{}
		out.Body.Token, out.Body.User, out.Body.Expires = tok, u.Name, t.Created.Add(s.cfg.LoginTokenTTL)
		return out, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/v1/logout", Tags: []string{"users"},
		Summary:       "Log out: revoke the token of the request",
		Description:   "The bearer token of this request stops working at once, whatever made it (login or sessionq user token create).",
		DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, _ *struct{}) (*noContent, error) {
		err := s.users.RevokeTokenValue(ctx, scopeOf(ctx).token)
		switch {
		case errors.Is(err, users.ErrNotFound):
			// Revoked meanwhile: the caller is logged out all the same.
		case err != nil:
			return nil, s.internal(ctx, "revoking a token", err)
		}
		return &noContent{}, nil
	})
}

// checkPassword checks a user's password, throttled per user and client
// address (see throttle).
func (s *Server) checkPassword(ctx context.Context, name, password string) (*users.User, *apiError) {
	addr := ""
	if sc := scopeOf(ctx); sc != nil {
		addr = sc.addr
	}
	u, err := s.throttledCheck(ctx, name, password, addr)
	var te *throttledError
	switch {
	case errors.As(err, &te):
		return nil, apiErr(http.StatusTooManyRequests, CodeRateLimited, te.Error())
	case errors.Is(err, users.ErrUnauthenticated):
		return nil, apiErr(http.StatusUnauthorized, CodeUnauthenticated, "wrong user or password")
	case err != nil:
		return nil, s.internal(ctx, "checking a password", err)
	}
	return u, nil
}

// throttledError: a password check refused by the throttle. It wraps
// users.ErrUnauthenticated, so that a caller that does not know it still
// refuses the login.
type throttledError struct{ wait time.Duration }

func (e *throttledError) Error() string {
	return fmt.Sprintf("too many password attempts; try again in %s", e.wait.Round(time.Second))
}

func (e *throttledError) Unwrap() error { return users.ErrUnauthenticated }

// throttledCheck is users.CheckPassword behind the throttle: every
// password check of the gateway and its dashboard goes through it.
func (s *Server) throttledCheck(ctx context.Context, name, password, addr string) (*users.User, error) {
	at, wait := s.logins.begin(name, addr)
	if at == nil {
		return nil, &throttledError{wait: wait}
	}
	u, err := s.users.CheckPassword(ctx, name, password)
	at.done(err == nil)
	return u, err
}

// clientAddr is the address a request comes from: its peer's, unless the
// peer is a trusted proxy; then the right-most X-Forwarded-For entry that
// is not a trusted proxy (the left-most when all are).
func (s *Server) clientAddr(peer string, xff []string) string {
	if h, _, err := net.SplitHostPort(peer); err == nil {
		peer = h
	}
	if len(s.cfg.TrustedProxies) == 0 || !s.trusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range xff {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				if ap, err := netip.ParseAddrPort(h); err == nil {
					h = ap.Addr().String()
				}
				hops = append(hops, h)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !s.trusted(hops[i]) || i == 0 {
			return hops[i]
		}
	}
	return peer
}

// trusted reports whether address a is one of Config.TrustedProxies.
func (s *Server) trusted(a string) bool {
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
