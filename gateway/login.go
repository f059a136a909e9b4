package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sessionq/sessionq/users"
)

type loginIn struct {
	Body struct {
		User     string `json:"user" minLength:"1" maxLength:"64"`
		Password string `json:"password" maxLength:"1024"`
	}
}

type loginOut struct {
	Body struct {
		Token   string    `json:"token" doc:"An API token: send it as Authorization: Bearer TOKEN"`
		User    string    `json:"user"`
		Expires time.Time `json:"expires"`
	}
}

type remoteKey struct{}

func (s *Server) registerLogin() {
	huma.Register(s.api, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/v1/login", Tags: []string{"users"},
		Summary:     "Log in with a user name and password; answers an API token",
		Description: "Rate limited per user name and per client address. A wrong user and a wrong password get the same answer.",
		Metadata:    public, Security: []map[string][]string{},
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests},
	}, func(ctx context.Context, in *loginIn) (*loginOut, error) {
		u, aerr := s.checkPassword(ctx, in.Body.User, in.Body.Password)
		if aerr != nil {
			return nil, aerr
		}
		tok, t, err := s.users.CreateToken(ctx, u.Name, "login", s.cfg.LoginTokenTTL)
		if err != nil {
			return nil, s.internal(ctx, "creating a token", err)
		}
		out := &loginOut{}
		out.Body.Token, out.Body.User, out.Body.Expires = tok, u.Name, t.Created.Add(s.cfg.LoginTokenTTL)
		return out, nil
	})
}

// checkPassword checks a user's password, rate limited per user name and
// per client address.
func (s *Server) checkPassword(ctx context.Context, name, password string) (*users.User, *apiError) {
	if !s.logins.allow("u:"+name, "a:"+clientAddr(ctx)) {
		return nil, apiErr(http.StatusTooManyRequests, CodeRateLimited, "too many password attempts; wait a minute")
	}
	u, err := s.users.CheckPassword(ctx, name, password)
	switch {
	case errors.Is(err, users.ErrUnauthenticated):
		return nil, apiErr(http.StatusUnauthorized, CodeUnauthenticated, "wrong user or password")
	case err != nil:
		return nil, s.internal(ctx, "checking a password", err)
	}
	return u, nil
}

func clientAddr(ctx context.Context) string {
	a, _ := ctx.Value(remoteKey{}).(string)
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}
