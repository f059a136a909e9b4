package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/presence"
)

// stillWaitingAfter is how long `submit --wait` waits before it checks
// that a live worker handles the job's type.
const stillWaitingAfter = 3 * time.Second

// unhandled reports whether no live worker handles jobType. A failure to
// tell is logged at debug level and reported as false: the warning it
// would give is advice, not an error.
func unhandled(ctx context.Context, rdb redis.UniversalClient, jobType string) bool {
	ids, err := presence.Handlers(ctx, rdb, jobType)
	if err != nil {
		slog.Default().DebugContext(ctx, "cannot tell which workers handle the job type", "type", jobType, "err", err)
		return false
	}
	return len(ids) == 0
}

// warnUnhandled warns on w when no live worker handles jobType.
func warnUnhandled(ctx context.Context, w io.Writer, rdb redis.UniversalClient, jobType string) {
	if unhandled(ctx, rdb, jobType) {
		fmt.Fprintf(w, "sessionq: warning: no live worker handles job type %q; the job waits until one does (start one with sessionq worker --exec '%s=COMMAND')\n", jobType, jobType)
	}
}
