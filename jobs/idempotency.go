package jobs

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
)

// IDForIdempotencyKey is the ID that Submit gives a job submitted with
// IdempotencyKey(key) in the default namespace (no Owner, or Owner("")):
// the same key always names the same job.
func IDForIdempotencyKey(key string) string { return newID("", key) }

// IDForOwnerIdempotencyKey is the ID that Submit gives a job submitted with
// Owner(owner) and IdempotencyKey(key).
func IDForOwnerIdempotencyKey(owner, key string) string { return newID(owner, key) }

// ErrIdempotencyConflict means an idempotency key was reused for another
// kind of job (plain or session), session, queue or type than its first
// submit asked for. Errors that wrap it are *IdempotencyConflictError.
var ErrIdempotencyConflict = errors.New("jobs: idempotency key conflict")

// Kind says whether a job has a session.
type Kind string

// Kinds of job.
const (
	KindPlain   Kind = "plain"   // without a session
	KindSession Kind = "session" // with a session
)

// KeyBinding is what an idempotency key is bound to: what its first submit
// asked for. Queue and Type are empty when unknown (a session job found by
// its ID index after its binding expired).
type KeyBinding struct {
	Kind    Kind
	Session string // "" for a plain job
	Queue   string
	Type    string
}

func (b KeyBinding) String() string {
	what := "a plain job"
	if b.Kind == KindSession {
		what = fmt.Sprintf("a job of session %s", b.Session)
	}
	if b.Queue == "" && b.Type == "" {
		return what
	}
	return fmt.Sprintf("%s (queue %s, type %s)", what, b.Queue, b.Type)
}

// IdempotencyConflictError is the error of a submit whose idempotency key
// is bound to something else than it asked for. The submit changed
// nothing. It wraps ErrIdempotencyConflict.
type IdempotencyConflictError struct {
	Owner string     // the key's namespace ("" the default one)
	Key   string     // the idempotency key
	ID    string     // the job ID the key names
	Bound KeyBinding // what the key is bound to
	Asked KeyBinding // what this submit asked for
}

func (e *IdempotencyConflictError) Error() string {
	return fmt.Sprintf("%v: key %q is bound to %s, not %s", ErrIdempotencyConflict, e.Key, e.Bound, e.Asked)
}

// Unwrap makes errors.Is(err, ErrIdempotencyConflict) true.
func (e *IdempotencyConflictError) Unwrap() error { return ErrIdempotencyConflict }

var (
	//go:embed lua/bind.lua
	bindLua    string
	bindScript = redis.NewScript(bindLua)
)

// bindingTTL is the life of a new binding: at least as long as the job can
// be found by its ID (its ID index, asynq's retention of a finished plain
// job), counted from when it is due.
func (c *Client) bindingTTL(o *options) time.Duration {
	ttl := max(indexTTL, c.cfg.Retention)
	if !o.at.IsZero() {
		if d := time.Until(o.at); d > 0 {
			ttl += d
		}
	}
	return ttl
}

// bind binds the idempotency key of job id to what o asks for (see
// lua/bind.lua). A key bound to something else is an
// IdempotencyConflictError. Of concurrent submits of one key, the first to
// bind it decides what it names; a submitter that dies after binding (or
// whose job was refused for a full backlog) leaves a binding that the same
// submit, retried, completes.
func (c *Client) bind(ctx context.Context, id, jobType string, o *options) error {
	asked := KeyBinding{Kind: KindPlain, Queue: o.queue, Type: jobType}
	if o.session != "" {
		asked.Kind, asked.Session = KindSession, o.session
	}
	r, err := bindScript.Run(ctx, c.rdb, []string{keys.Idempotency(id), ledger.IndexKey(id)},
		string(asked.Kind), asked.Session, asked.Queue, asked.Type, c.bindingTTL(o).Milliseconds()).StringSlice()
	if err != nil {
		return fmt.Errorf("binding idempotency key: %w", err)
	}
	var bound KeyBinding
	switch {
	case len(r) == 1 && r[0] == "new":
		return nil
	case len(r) == 5 && r[0] == "bound":
		bound = KeyBinding{Kind: Kind(r[1]), Session: r[2], Queue: r[3], Type: r[4]}
		if bound == asked {
			return nil
		}
	case len(r) == 2 && r[0] == "index":
		bound = KeyBinding{Kind: KindSession, Session: r[1]}
	default:
		return fmt.Errorf("binding idempotency key: unexpected reply %q", r)
	}
	return &IdempotencyConflictError{Owner: o.owner, Key: o.idempotency, ID: id, Bound: bound, Asked: asked}
}
