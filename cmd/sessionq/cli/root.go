// Package cli builds the sessionq command line: cobra commands, with viper
// reading flags, SESSIONQ_* environment variables and sessionq.yaml once,
// into typed configuration passed down to the libraries.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/sessionq/sessionq/internal/durable"
	"github.com/sessionq/sessionq/internal/redact"
)

// env is what every command shares.
type env struct {
	v      *viper.Viper
	out    io.Writer
	errOut io.Writer
}

// NewRootCmd builds the sessionq command tree.
func NewRootCmd() *cobra.Command { return newRootCmd(commands) }

// newRootCmd builds the command tree with these commands (tests add one of
// their own without touching the package's list).
func newRootCmd(commands []func(*env) *cobra.Command) *cobra.Command {
	quietRedisOnce.Do(func() { redis.SetLogger(redisLogger{}) })
	e := &env{v: viper.New(), out: os.Stdout, errOut: os.Stderr}
	root := &cobra.Command{
		Use:           "sessionq",
		Short:         "A distributed job runner whose jobs of one session run one at a time, in order",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			e.out, e.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return e.load(cmd)
		},
	}
	root.SetVersionTemplate("sessionq {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return e.redactor().Error(err) })
	pf := root.PersistentFlags()
	pf.String("redis", "redis://127.0.0.1:6379/0", "Redis URL (env SESSIONQ_REDIS_URL)")
	pf.String("redis-mode", "single", "single, cluster (a Redis Cluster: more nodes as ?addr=host:port&addr=...) or sentinel (?master_name=NAME&addr=...) (env SESSIONQ_REDIS_MODE)")
	pf.Int("redis-wait-replicas", defInt("redis.wait_replicas"), "make every write wait until this many replicas acknowledged it (WAIT); single and sentinel mode (env SESSIONQ_REDIS_WAIT_REPLICAS)")
	pf.Duration("redis-wait-timeout", defDuration("redis.wait_timeout"), "how long a write waits for its replicas before it fails (env SESSIONQ_REDIS_WAIT_TIMEOUT)")
	pf.String("config", "", "config file (default ./sessionq.yaml when present; env SESSIONQ_CONFIG)")
	pf.String("log-level", "info", "log level: debug, info, warn, error (env SESSIONQ_LOG_LEVEL)")
	_ = e.v.BindPFlag("redis.url", pf.Lookup("redis"))
	_ = e.v.BindPFlag("redis.mode", pf.Lookup("redis-mode"))
	_ = e.v.BindPFlag("redis.wait_replicas", pf.Lookup("redis-wait-replicas"))
	_ = e.v.BindPFlag("redis.wait_timeout", pf.Lookup("redis-wait-timeout"))
	_ = e.v.BindPFlag("config", pf.Lookup("config"))
	_ = e.v.BindPFlag("log.level", pf.Lookup("log-level"))
	e.v.SetEnvPrefix("SESSIONQ")
	e.v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	e.v.AutomaticEnv()
	_ = e.v.BindEnv("redis.url", "SESSIONQ_REDIS_URL")

	for _, add := range commands {
		root.AddCommand(add(e))
	}
	e.redactErrors(root)
	return root
}

// redactor masks the passwords of the configured Redis URL (from flags,
// environment or config file), of any Redis URL in a text, and the values
// of the secret environment variables (secretEnv).
func (e *env) redactor() *redact.Redactor {
	var secrets []string
	for _, name := range secretEnv {
		secrets = append(secrets, os.Getenv(name))
	}
	return redact.New([]string{e.v.GetString("redis.url"), os.Getenv("SESSIONQ_REDIS_URL")}, secrets...)
}

// redactErrors makes every command of the tree return its errors
// redacted, whatever produced them.
func (e *env) redactErrors(c *cobra.Command) {
	if pre := c.PersistentPreRunE; pre != nil {
		c.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
			return e.redactor().Error(pre(cmd, args))
		}
	}
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			return e.redactor().Error(run(cmd, args))
		}
	}
	for _, sub := range c.Commands() {
		e.redactErrors(sub)
	}
}

// commands are the constructors of the subcommands; each file adds its own
// in an init-free way through this list (see commands.go).

// load reads the config file once, after flags are parsed.
func (e *env) load(cmd *cobra.Command) error {
	file := e.v.GetString("config")
	if file == "" {
		if _, err := os.Stat("sessionq.yaml"); err == nil {
			file = "sessionq.yaml"
		}
	}
	if file != "" {
		e.v.SetConfigFile(file)
		if err := e.v.ReadInConfig(); err != nil {
			return fmt.Errorf("reading config file %s: %w", file, err)
		}
	}
	// Everything written to stderr from here on (logs included) is
	// redacted: the Redis URL may hold a password.
	e.errOut = e.redactor().Writer(e.errOut)
	if err := checkKeys(e.v.AllKeys()); err != nil {
		return e.configError(err)
	}
	e.warnUnknownEnv()
	lvl := slog.LevelInfo
	if err := lvl.UnmarshalText([]byte(e.v.GetString("log.level"))); err != nil {
		return fmt.Errorf("invalid log level %q: want debug, info, warn or error", e.v.GetString("log.level"))
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(e.errOut, &slog.HandlerOptions{Level: lvl})))
	return nil
}

// quietRedisOnce installs redisLogger once per process: go-redis logs
// through a global.
var quietRedisOnce sync.Once

// redisLogger sends go-redis's own logs (such as a retried dial failing,
// which the caller reports anyway as one clear error) to slog at debug
// level instead of printing them on stderr.
type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// redisURL is the configured Redis URL.
func (e *env) redisURL() string { return e.v.GetString("redis.url") }

// conn is what an interruptible command holds: a context cancelled by
// SIGINT or SIGTERM, and the configured Redis.
type conn struct {
	ctx context.Context
	rdb redis.UniversalClient
	// stop restores the default signal handling, so that a second signal
	// ends the process at once.
	stop context.CancelFunc
}

// connect opens the Redis of cfg under a context cancelled by SIGINT or
// SIGTERM. close releases both.
func (e *env) connect(cmd *cobra.Command, cfg *Config) (*conn, error) {
	ctx, stop := signalContext(cmd.Context())
	rdb, err := openRedis(ctx, cfg.Redis)
	if err != nil {
		stop()
		return nil, err
	}
	return &conn{ctx: ctx, rdb: rdb, stop: stop}, nil
}

func (c *conn) close() {
	_ = c.rdb.Close()
	c.stop()
}

// openRedis opens the Redis rc names and pings it, with a clear error when
// it cannot.
func openRedis(ctx context.Context, rc RedisConfig) (redis.UniversalClient, error) {
	url, shown := rc.URL, redact.URL(rc.URL)
	red := redact.New([]string{url})
	var rdb redis.UniversalClient
	switch rc.Mode {
	case "", "single":
		c, err := openSingle(ctx, url)
		if err != nil {
			return nil, err
		}
		if err := waitReplicas(c, rc); err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	case "cluster":
		if rc.WaitReplicas > 0 {
			return nil, errors.New("redis.wait_replicas is not supported in cluster mode")
		}
		opt, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, red.Error(fmt.Errorf("invalid Redis Cluster URL %q: %w", shown, err))
		}
		opt.ContextTimeoutEnabled = true
		rdb = redis.NewClusterClient(opt)
	case "sentinel":
		opt, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, red.Error(fmt.Errorf("invalid Redis Sentinel URL %q: %w", shown, err))
		}
		if opt.MasterName == "" {
			return nil, fmt.Errorf("invalid Redis Sentinel URL %q: give the master as ?master_name=NAME", shown)
		}
		opt.ContextTimeoutEnabled = true
		c := redis.NewFailoverClient(opt)
		if err := waitReplicas(c, rc); err != nil {
			_ = c.Close()
			return nil, err
		}
		rdb = c
	default:
		return nil, fmt.Errorf("invalid Redis mode %q: want single, cluster or sentinel", rc.Mode)
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, red.Error(fmt.Errorf("cannot reach Redis (%s) at %s: %w", rc.Mode, shown, err))
	}
	return rdb, nil
}

// waitReplicas makes c's writes wait for rc.WaitReplicas replicas, when
// asked.
func waitReplicas(c *redis.Client, rc RedisConfig) error {
	if rc.WaitReplicas <= 0 {
		return nil
	}
	if err := durable.Install(c, durable.Config{Replicas: rc.WaitReplicas, Timeout: rc.WaitTimeout}); err != nil {
		return fmt.Errorf("redis.wait_replicas: %w", err)
	}
	return nil
}

// openSingle opens a single Redis server.
func openSingle(ctx context.Context, url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, redact.New([]string{url}).Error(fmt.Errorf("invalid Redis URL %q: %w", redact.URL(url), err))
	}
	// A call's context deadline bounds its socket reads too, so that a
	// lease renewal on a dead connection gives up in time.
	opt.ContextTimeoutEnabled = true
	// Probe once, without the client's retries, so that a wrong address is
	// reported at once; the client kept retries for the long run.
	probeOpt := *opt
	probeOpt.MaxRetries = -1
	probe := redis.NewClient(&probeOpt)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err = probe.Ping(pctx).Err()
	_ = probe.Close()
	if err != nil {
		return nil, fmt.Errorf("cannot reach Redis at %s: %w", opt.Addr, err)
	}
	return redis.NewClient(opt), nil
}
