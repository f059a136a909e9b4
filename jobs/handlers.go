package jobs

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sessionq/sessionq/internal/keys"
)

// Handled reports whether a live worker handles jobType: whether a worker
// process has published it (package internal/presence) and its entry has
// not run out, by this process's clock (entries live for seconds: a skew of
// milliseconds does not matter).
func (c *Client) Handled(ctx context.Context, jobType string) (bool, error) {
	if err := ValidateType(jobType); err != nil {
		return false, err
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	n, err := c.rdb.ZCount(ctx, keys.Handlers(jobType), "("+now, "+inf").Result()
	if err != nil {
		return false, fmt.Errorf("reading the workers that handle job type %q: %w", jobType, err)
	}
	return n > 0, nil
}

// handlerState shows a job that is ready to run, or to run again, as
// StateWaitingForHandler when no live worker handles its type.
func (c *Client) handlerState(ctx context.Context, in *Info) error {
	if in.State != StatePending && in.State != StateRetrying {
		return nil
	}
	ok, err := c.Handled(ctx, in.Type)
	if err != nil || ok {
		return err
	}
	in.State = StateWaitingForHandler
	return nil
}
