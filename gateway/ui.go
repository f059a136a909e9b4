package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sessionq/sessionq/dashboard"
	"github.com/sessionq/sessionq/users"
)

// UIPath is where the gateway serves the operator dashboard (package
// dashboard), asynq's own view under UIPath/queues/.
const UIPath = dashboard.DefaultPrefix

// mountDashboard serves the dashboard under UIPath, its password logins
// throttled with the gateway's own (one throttle for both).
func (s *Server) mountDashboard() error {
	d, err := dashboard.New(dashboard.Config{
		Redis: s.rdb, Table: s.table, Jobs: s.jobs, Users: s.users,
		Secure: s.cfg.CookieSecure, Logger: s.log,
		Queues: dashboard.NewQueues(s.rdb, UIPath),
		CheckPassword: func(ctx context.Context, user, password string, r *http.Request) (*users.User, error) {
			u, err := s.throttledCheck(ctx, user, password, s.clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For")))
			if te := (*throttledError)(nil); errors.As(err, &te) {
				return nil, fmt.Errorf("%w: %w", dashboard.ErrThrottled, err)
			}
			return u, err
		},
	})
	if err != nil {
		return err
	}
	s.router.Handle(UIPath, http.RedirectHandler(UIPath+"/", http.StatusMovedPermanently))
	s.router.Handle(UIPath+"/*", d)
	return nil
}
