package gateway

import "time"

// FreezeLoginClock stops the clock of s's login throttle at now, so that
// a test sees backoffs and budgets that do not run out under it.
func FreezeLoginClock(s *Server) {
	now := time.Now()
	s.logins.mu.Lock()
	defer s.logins.mu.Unlock()
	s.logins.now = func() time.Time { return now }
}
