// Package leadership elects one leader among any number of candidates for a
// singleton task (the reconciler, expiry sweeps). The leader holds a lease
// in Redis for one term and renews it before it runs out; a leader that
// stops renewing (crashed, paused, cut off) loses the lease when its term
// ends and another candidate takes it. Work done under leadership must
// tolerate a short overlap of two leaders around a lost term: the
// reconciler's repairs are compare-and-set scripts, so an overlap is harmless.
package leadership

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
)

var (
	//go:embed lua/claim.lua
	claimLua string
	//go:embed lua/resign.lua
	resignLua string

	claimScript  = redis.NewScript(claimLua)
	resignScript = redis.NewScript(resignLua)
)

// Elector claims the lease of one named singleton for one candidate.
type Elector struct {
	rdb  redis.Scripter
	key  string
	id   string
	term time.Duration
}

// New returns an Elector for singleton name, candidate id, with terms of term.
func New(rdb redis.Scripter, name, id string, term time.Duration) *Elector {
	return &Elector{rdb: rdb, key: keys.Leader(name), id: id, term: term}
}

// Claim takes or renews the lease; it reports whether this candidate leads
// for the next term.
func (e *Elector) Claim(ctx context.Context) (bool, error) {
	n, err := claimScript.Run(ctx, e.rdb, []string{e.key}, e.id, e.term.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("claiming leadership: %w", err)
	}
	return n == 1, nil
}

// Resign gives the lease up if this candidate holds it.
func (e *Elector) Resign(ctx context.Context) error {
	if err := resignScript.Run(ctx, e.rdb, []string{e.key}, e.id).Err(); err != nil {
		return fmt.Errorf("resigning leadership: %w", err)
	}
	return nil
}
