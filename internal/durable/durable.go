// Package durable makes the writes of a go-redis client wait for replicas.
//
// Redis replicates asynchronously: a write the primary acknowledged can be
// lost when the primary dies before a replica received it and the replica is
// promoted (Sentinel failover). [Install] adds a hook to a client that sends
// WAIT numreplicas timeout right after every write command, in the same
// pipeline and therefore on the same connection (WAIT waits for the last
// write of its own connection, so a WAIT on another pooled connection would
// prove nothing), and turns a WAIT that counts fewer replicas than asked
// into an error wrapping [ErrNotReplicated] on the write.
//
// A pipeline holding writes gets one WAIT at its end; a single write
// command becomes a pipeline of the command and WAIT. Neither costs an
// extra round trip: the price is the time a replica takes to acknowledge.
// Read commands pass through untouched. (Hooks added to the client before
// Install see a single write twice, as a command and as a pipeline; hooks
// added after see it as a pipeline.) MULTI/EXEC transactions holding
// writes are refused with [ErrTxUnsupported] (sessionq and asynq use none).
//
// An error wrapping ErrNotReplicated means the write ran on the primary but
// no replica confirmed it in time: it may survive a failover or not. A
// caller treats it as a failure (a submit is not acknowledged; a worker
// retries its outcome), which is the point: what a caller saw succeed is on
// a replica. With no replica reachable every write fails until one is.
package durable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout is the WAIT timeout when Config.Timeout is zero.
const DefaultTimeout = time.Second

// MaxReplicas bounds Config.Replicas.
const MaxReplicas = 16

var (
	// ErrNotReplicated means a write ran on the primary but fewer replicas
	// than asked acknowledged it within the timeout.
	ErrNotReplicated = errors.New("durable: write not acknowledged by enough replicas")
	// ErrTxUnsupported is set on the writes of a MULTI/EXEC transaction:
	// WAIT cannot follow EXEC in go-redis's transaction pipeline.
	ErrTxUnsupported = errors.New("durable: MULTI/EXEC transactions cannot wait for replicas")
	// ErrInvalidConfig wraps every configuration error of Install.
	ErrInvalidConfig = errors.New("durable: invalid configuration")
)

// Config says how many replicas a write waits for, and for how long.
type Config struct {
	// Replicas is the number of replicas that must acknowledge each write,
	// 1 to MaxReplicas. Required.
	Replicas int
	// Timeout is how long a write waits for them (WAIT's timeout). It must
	// be shorter than the client's read timeout. Default DefaultTimeout.
	Timeout time.Duration
}

func (c *Config) validate(readTimeout time.Duration) error {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	switch {
	case c.Replicas < 1 || c.Replicas > MaxReplicas:
		return fmt.Errorf("%w: replicas %d, want 1 to %d", ErrInvalidConfig, c.Replicas, MaxReplicas)
	case c.Timeout < time.Millisecond:
		return fmt.Errorf("%w: timeout %v, want at least 1ms", ErrInvalidConfig, c.Timeout)
	case readTimeout > 0 && c.Timeout >= readTimeout:
		return fmt.Errorf("%w: timeout %v must be shorter than the client's read timeout %v",
			ErrInvalidConfig, c.Timeout, readTimeout)
	}
	return nil
}

// Install adds the waiting hook to c, a single-server or Sentinel failover
// client (redis.NewClient, redis.NewFailoverClient). It returns an error
// wrapping ErrInvalidConfig when cfg is invalid, and changes nothing then.
// (A Redis Cluster client routes a pipeline over several nodes, each with
// its own connection, so it is not supported.)
func Install(c *redis.Client, cfg Config) error {
	if c == nil {
		return fmt.Errorf("%w: nil client", ErrInvalidConfig)
	}
	if err := cfg.validate(c.Options().ReadTimeout); err != nil {
		return err
	}
	c.AddHook(&hook{client: c, replicas: int64(cfg.Replicas), timeout: cfg.Timeout})
	return nil
}

type hook struct {
	client   *redis.Client
	replicas int64
	timeout  time.Duration
}

var _ redis.Hook = (*hook)(nil)

func (h *hook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook sends a write command as a pipeline, which ProcessPipelineHook
// completes with WAIT.
func (h *hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !isWrite(cmd.Name()) {
			return next(ctx, cmd)
		}
		p := h.client.Pipeline()
		_ = p.Process(ctx, cmd)
		_, _ = p.Exec(ctx)
		return cmd.Err()
	}
}

// ProcessPipelineHook appends WAIT to a pipeline that holds a write.
func (h *hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		writes := 0
		for _, c := range cmds {
			if isWrite(c.Name()) {
				writes++
			}
		}
		if writes == 0 {
			return next(ctx, cmds)
		}
		if len(cmds) > 0 && cmds[0].Name() == "multi" {
			setWriteErr(cmds, ErrTxUnsupported)
			return ErrTxUnsupported
		}
		wait := redis.NewIntCmd(ctx, "wait", h.replicas, h.timeout.Milliseconds())
		all := make([]redis.Cmder, 0, len(cmds)+1)
		all = append(append(all, cmds...), wait)
		err := next(ctx, all)
		n, werr := wait.Result()
		switch {
		case werr != nil:
			werr = fmt.Errorf("waiting for %d replicas: %w", h.replicas, werr)
		case n < h.replicas:
			werr = fmt.Errorf("%w: %d of %d within %v", ErrNotReplicated, n, h.replicas, h.timeout)
		}
		if werr != nil {
			setWriteErr(cmds, werr)
			if err == nil {
				err = werr
			}
		}
		return err
	}
}

// setWriteErr sets err on the write commands of cmds that succeeded.
func setWriteErr(cmds []redis.Cmder, err error) {
	for _, c := range cmds {
		if isWrite(c.Name()) && c.Err() == nil {
			c.SetErr(err)
		}
	}
}

// isWrite reports whether the command named name (lower case) may change
// data. Scripts count as writes (EVAL_RO and EVALSHA_RO do not).
func isWrite(name string) bool {
	_, ok := writeCommands[name]
	return ok
}

// writeCommands are the Redis commands flagged "write" that a client sends
// (from COMMAND INFO on Redis 7), plus the script and function calls.
var writeCommands = map[string]struct{}{
	"append": {}, "blmove": {}, "blmpop": {}, "blpop": {}, "brpop": {}, "brpoplpush": {},
	"bzmpop": {}, "bzpopmax": {}, "bzpopmin": {}, "copy": {}, "decr": {}, "decrby": {},
	"del": {}, "eval": {}, "evalsha": {}, "expire": {}, "expireat": {}, "fcall": {},
	"flushall": {}, "flushdb": {}, "geoadd": {}, "georadius": {}, "georadiusbymember": {},
	"geosearchstore": {}, "getdel": {}, "getex": {}, "getset": {}, "hdel": {}, "hincrby": {},
	"hincrbyfloat": {}, "hmset": {}, "hset": {}, "hsetnx": {}, "incr": {}, "incrby": {},
	"incrbyfloat": {}, "linsert": {}, "lmove": {}, "lmpop": {}, "lpop": {}, "lpush": {},
	"lpushx": {}, "lrem": {}, "lset": {}, "ltrim": {}, "move": {}, "mset": {}, "msetnx": {},
	"persist": {}, "pexpire": {}, "pexpireat": {}, "pfadd": {}, "pfmerge": {}, "psetex": {},
	"rename": {}, "renamenx": {}, "restore": {}, "rpop": {}, "rpoplpush": {}, "rpush": {},
	"rpushx": {}, "sadd": {}, "sdiffstore": {}, "set": {}, "setbit": {}, "setex": {},
	"setnx": {}, "setrange": {}, "sinterstore": {}, "smove": {}, "sort": {}, "spop": {},
	"srem": {}, "sunionstore": {}, "swapdb": {}, "unlink": {}, "xack": {}, "xadd": {},
	"xautoclaim": {}, "xclaim": {}, "xdel": {}, "xgroup": {}, "xreadgroup": {}, "xsetid": {},
	"xtrim": {}, "zadd": {}, "zdiffstore": {}, "zincrby": {}, "zinterstore": {}, "zmpop": {},
	"zpopmax": {}, "zpopmin": {}, "zrangestore": {}, "zrem": {}, "zremrangebylex": {},
	"zremrangebyrank": {}, "zremrangebyscore": {}, "zunionstore": {}, "bitop": {}, "bitfield": {},
}
