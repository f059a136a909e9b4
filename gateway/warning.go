package gateway

import (
	"context"
	"fmt"
)

// handlerWarning is the warning of a submit of jobType when no live worker
// handles it, or "". A failure to tell is logged and gives no warning: it
// is advice, and the job stands.
func (s *Server) handlerWarning(ctx context.Context, jobType string) string {
	ok, err := s.jobs.Handled(ctx, jobType)
	if err != nil {
		s.log.WarnContext(ctx, "gateway: cannot tell which workers handle a job type", "type", jobType, "err", err)
		return ""
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("no live worker handles job type %q; the job waits (state waiting_for_handler) until a worker that handles it joins", jobType)
}
