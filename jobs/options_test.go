package jobs_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
)

// An option given with an empty value is refused, never read as "none":
// a failed S=$(...) must not drop a job's session silently. Validation
// needs no Redis, so the client points at a closed port.
func TestEmptyOptionValuesRefused(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	tests := []struct {
		name string
		opts []jobs.Option
		want string
	}{
		{"empty session", []jobs.Option{jobs.Session("")}, `invalid session ID "": must not be empty`},
		{"blank session", []jobs.Option{jobs.Session("  ")}, `invalid session ID "  "`},
		{"empty application", []jobs.Option{jobs.Session("s"), jobs.Application("")}, `invalid application ID "": must not be empty`},
		{"application without session", []jobs.Option{jobs.Application("a")}, "needs a session ID"},
		{"empty idempotency key", []jobs.Option{jobs.IdempotencyKey("")}, `invalid job ID "": must not be empty`},
		{"out of session without session", []jobs.Option{jobs.Session(""), jobs.OutOfSession()}, `invalid session ID ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Submit(t.Context(), "t", nil, tt.opts...)
			require.ErrorIs(t, err, jobs.ErrInvalid)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
