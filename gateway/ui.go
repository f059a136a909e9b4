package gateway

import (
	"context"
	"net"
	"net/http"

	"github.com/sessionq/sessionq/dashboard"
)

// UIPath is where the gateway serves the operator dashboard (package
// dashboard), asynq's own view under UIPath/queues/.
const UIPath = dashboard.DefaultPrefix

// mountDashboard serves the dashboard under UIPath, its password logins
// rate limited with the gateway's own.
func (s *Server) mountDashboard() error {
	d, err := dashboard.New(dashboard.Config{
		Redis: s.rdb, Table: s.table, Jobs: s.jobs, Users: s.users,
		Secure: s.cfg.CookieSecure, Logger: s.log,
		Queues: dashboard.NewQueues(s.rdb, UIPath),
		AllowPassword: func(_ context.Context, user string, r *http.Request) bool {
			addr := r.RemoteAddr
			if h, _, err := net.SplitHostPort(addr); err == nil {
				addr = h
			}
			return s.logins.allow("u:"+user, "a:"+addr)
		},
	})
	if err != nil {
		return err
	}
	s.router.Handle(UIPath, http.RedirectHandler(UIPath+"/", http.StatusMovedPermanently))
	s.router.Handle(UIPath+"/*", d)
	return nil
}
