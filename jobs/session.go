package jobs

import (
	"context"
	"fmt"

	"github.com/sessionq/sessionq/internal/keys"
)

// SessionJobs returns the IDs of the unfinished jobs of session s (parked,
// pending, running, retrying), in submission order, at most limit of them.
// It only reads.
func (c *Client) SessionJobs(ctx context.Context, s string, limit int) ([]string, error) {
	if err := ValidateSessionID(s); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	ids, err := c.rdb.LRange(ctx, keys.Pending(s), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("listing jobs of session %s: %w", s, err)
	}
	return ids, nil
}
