package sessiontable

import (
	"context"
	"time"
)

// SetCreationGrace shortens the creation grace of t, for tests of what a
// creation that dies half-way leaves behind.
func SetCreationGrace(t *Table, d time.Duration) { t.grace = d }

// PrepareOnly runs the cross-slot steps of a creation and stops before the
// record, as a creator that dies there would. It returns the session ID and
// a function that writes the record, as the creator would if it woke up.
func PrepareOnly(ctx context.Context, t *Table, spec Spec) (string, func() (*Info, error), error) {
	if err := t.checkSpec(&spec); err != nil {
		return "", nil, err
	}
	e := entry{id: NewID(), owner: spec.Owner, tid: spec.TID}
	began, _, err := t.prepare(ctx, e, spec.ReplaceTID)
	if err != nil {
		return "", nil, err
	}
	return e.id, func() (*Info, error) { return t.record(ctx, e, began, spec) }, nil
}
