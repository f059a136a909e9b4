package bench

import (
	"context"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Counter is a go-redis hook that counts round trips to Redis: one per
// command sent alone, one per pipeline (or transaction), whatever it holds.
// Each round trip is filed under a label that names what it did: the
// sessionq ledger script or asynq script it ran (recognised by the shape of
// its keys), or the command's name. It is safe for concurrent use.
type Counter struct {
	mu sync.Mutex
	by map[string]int64
}

var _ redis.Hook = (*Counter)(nil)

// NewCounter returns an empty Counter.
func NewCounter() *Counter { return &Counter{by: map[string]int64{}} }

// DialHook passes dials through.
func (c *Counter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook counts one round trip per command.
func (c *Counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		c.add(label(cmd), 1)
		return err
	}
}

// ProcessPipelineHook counts one round trip per pipeline. A pipeline that
// carries several ledger calls (a worker's batch) counts as one round trip
// labelled LabelBatch, and each call it carried is counted under its own
// label after BatchedPrefix, outside the round trips (Total).
func (c *Counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		names := make([]string, 0, len(cmds))
		var calls []string
		for _, cmd := range cmds {
			n := label(cmd)
			if strings.HasPrefix(n, "ledger.") {
				calls = append(calls, n)
			}
			if len(names) == 0 || names[len(names)-1] != n {
				names = append(names, n)
			}
		}
		switch {
		case len(names) == 1 && names[0] == LabelConnect:
			c.add(LabelConnect, 1)
		case len(calls) == 1:
			// A ledger script with the index writes that ride along.
			c.add(calls[0], 1)
		case len(calls) > 1:
			c.add(LabelBatch, 1)
			for _, l := range calls {
				c.add(BatchedPrefix+l, 1)
			}
		default:
			c.add("pipeline("+strings.Join(names, "+")+")", 1)
		}
		return err
	}
}

func (c *Counter) add(l string, n int64) {
	c.mu.Lock()
	c.by[l] += n
	c.mu.Unlock()
}

// Snapshot returns the counts so far, by label.
func (c *Counter) Snapshot() RoundTrips {
	c.mu.Lock()
	defer c.mu.Unlock()
	return RoundTrips(maps.Clone(c.by))
}

// RoundTrips are round-trip counts by label.
type RoundTrips map[string]int64

// Sub returns r minus an earlier snapshot.
func (r RoundTrips) Sub(earlier RoundTrips) RoundTrips {
	out := RoundTrips{}
	for k, v := range r {
		if d := v - earlier[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Total is the number of round trips (the calls carried in batches are
// not round trips of their own).
func (r RoundTrips) Total() int64 {
	var t int64
	for k, v := range r {
		if !strings.HasPrefix(k, BatchedPrefix) {
			t += v
		}
	}
	return t
}

// Labels of the round trips the bench knows.
const (
	LabelSubmit        = "ledger.submit"
	LabelAcquire       = "ledger.acquire"
	LabelFinishRun     = "ledger.finish->run"     // the next job runs inline
	LabelFinishEnqueue = "ledger.finish->enqueue" // the next job goes through the queue
	LabelFinishNone    = "ledger.finish->none"    // nothing left in the session
	LabelFinishOther   = "ledger.finish->other"   // retry or stale
	LabelRenew         = "ledger.renew"
	LabelEnqueue       = "asynq.enqueue"
	LabelDequeue       = "asynq.dequeue"
	LabelDequeueEmpty  = "asynq.dequeue(empty)"
	LabelDone          = "asynq.done"
	LabelComplete      = "asynq.complete" // done, keeping the task for its retention
	LabelRetry         = "asynq.retry"
	LabelForward       = "asynq.forward"
	LabelConnect       = "connect"      // handshake of a new connection (HELLO, CLIENT SETINFO, SELECT)
	LabelBatch         = "ledger.batch" // one pipeline of several ledger calls (a worker's batch)
	// BatchedPrefix labels the ledger calls carried in batches.
	BatchedPrefix = "in batches: "
)

// scripts maps the key shape of a script call (the part of each key after
// its hash tag, up to the next ':') to its label.
var scripts = map[string]string{
	"t,pending":                                              LabelEnqueue,
	"pending,paused,active,lease":                            LabelDequeue,
	"active,lease,t,processed,processed":                     LabelDone,
	"active,lease,completed,t,processed,processed":           LabelComplete,
	"t,active,lease,retry,processed,failed,processed,failed": LabelRetry,
	"scheduled,pending":                                      LabelForward,
	"retry,pending":                                          LabelForward,
	"run":                                                    LabelRenew,
}

// label names what cmd did.
func label(cmd redis.Cmder) string {
	args := cmd.Args()
	name := strings.ToLower(cmd.Name())
	switch name {
	case "hello", "auth", "select", "client":
		return LabelConnect
	}
	if (name != "evalsha" && name != "eval") || len(args) < 3 {
		return name
	}
	nkeys, err := strconv.Atoi(argString(args[2]))
	if err != nil || nkeys < 0 || 3+nkeys > len(args) {
		return name
	}
	shape := make([]string, nkeys)
	for k := range nkeys {
		shape[k] = keyKind(argString(args[3+k]))
	}
	sh := strings.Join(shape, ",")
	nargv := len(args) - 3 - nkeys
	if sh == "run,pend,j,sess,ev" {
		switch nargv {
		case 4:
			return LabelAcquire
		case 13, 14: // 14 since the worker says which types it handles
			return finishLabel(cmd)
		default:
			return LabelSubmit
		}
	}
	if l, ok := scripts[sh]; ok {
		if l == LabelDequeue && cmd.Err() != nil {
			return LabelDequeueEmpty
		}
		return l
	}
	return "script(" + sh + ")"
}

// finishLabel tells what a finish script said comes next.
func finishLabel(cmd redis.Cmder) string {
	c, ok := cmd.(*redis.Cmd)
	if !ok {
		return LabelFinishOther
	}
	v, _ := c.Val().([]any)
	if len(v) < 5 {
		return LabelFinishOther
	}
	switch argString(v[4]) {
	case "run":
		return LabelFinishRun
	case "enqueue":
		return LabelFinishEnqueue
	case "none":
		return LabelFinishNone
	}
	return LabelFinishOther
}

// keyKind is the part of a Redis key after its hash tag up to the next ':'
// ("asynq:{default}:t:ID" -> "t", "sq:{S}:j:ID" -> "j"), or the whole key's
// first segment when it has no tag.
func keyKind(k string) string {
	if i := strings.LastIndex(k, "}:"); i >= 0 {
		k = k[i+2:]
	}
	if i := strings.IndexByte(k, ':'); i >= 0 {
		k = k[:i]
	}
	return k
}

func argString(a any) string {
	switch v := a.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}
