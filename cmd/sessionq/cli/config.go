package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/durable"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/scheduler"
	"github.com/sessionq/sessionq/worker"
)

// Config is sessionq's configuration, read once per command from flags,
// SESSIONQ_* environment variables and the config file (sessionq.yaml), in
// that order of precedence. A key a.b_c is the YAML path a: {b_c: ...}, the
// environment variable SESSIONQ_A_B_C and, where a command has one, a flag.
// See sessionq.example.yaml.
type Config struct {
	Redis     RedisConfig     `mapstructure:"redis"`
	Log       LogConfig       `mapstructure:"log"`
	Client    ClientConfig    `mapstructure:"client"`
	Worker    WorkerConfig    `mapstructure:"worker"`
	Scheduler SchedulerConfig `mapstructure:"scheduler"`
	Gateway   GatewayConfig   `mapstructure:"gateway"`
}

// GatewayConfig configures `sessionq serve` (and the gateway of `sessionq
// dev`): the gateway section (SESSIONQ_GATEWAY_*).
type GatewayConfig struct {
	// Addr is where the gateway listens. Default gateway.DefaultAddr
	// (127.0.0.1:8080).
	Addr string `mapstructure:"addr"`
	// CookieSecure marks the session and dashboard cookies Secure (behind
	// a TLS-terminating proxy). Default false; on with TLSCert.
	CookieSecure bool `mapstructure:"cookie_secure"`
	// TLSCert and TLSKey serve HTTPS with this certificate and key (PEM
	// files). Default "": plain HTTP.
	TLSCert string `mapstructure:"tls_cert"`
	TLSKey  string `mapstructure:"tls_key"`
	// MetricsAddr serves the gateway's /metrics on a listener of its own,
	// unauthenticated. Default "": /metrics on Addr, with a token of a user
	// with read:all.
	MetricsAddr string `mapstructure:"metrics_addr"`
	// TrustedProxies are the addresses or CIDR prefixes of reverse proxies
	// whose X-Forwarded-For is believed. Default none.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// LoginRate is the password checks per minute one user name may make
	// from one client address (with exponential backoff after failures).
	// Default gateway.DefaultLoginRate (10).
	LoginRate int `mapstructure:"login_rate"`
	// LoginFailureCeiling caps failed password checks per minute over all
	// users and addresses. Default gateway.DefaultLoginFailureCeiling (600).
	LoginFailureCeiling int `mapstructure:"login_failure_ceiling"`
	// LoginTokenTTL is the life of a token from POST /v1/login. Default
	// gateway.DefaultLoginTokenTTL (24h).
	LoginTokenTTL time.Duration `mapstructure:"login_token_ttl"`
	// MaxStreams caps the event streams of one gateway process. Default
	// gateway.DefaultMaxStreams (1024).
	MaxStreams int `mapstructure:"max_streams"`
	// MaxStreamsPerUser caps one user's event streams on one gateway
	// process. Default gateway.DefaultMaxStreamsPerUser (16).
	MaxStreamsPerUser int `mapstructure:"max_streams_per_user"`
}

// gatewayConfig is the gateway.Config that c describes.
func (c GatewayConfig) gatewayConfig() (gateway.Config, error) {
	g := gateway.Config{
		Addr: c.Addr, CookieSecure: c.CookieSecure, TLSCertFile: c.TLSCert, TLSKeyFile: c.TLSKey,
		MetricsAddr: c.MetricsAddr, LoginRate: c.LoginRate, LoginFailureCeiling: c.LoginFailureCeiling,
		LoginTokenTTL: c.LoginTokenTTL, MaxStreams: c.MaxStreams, MaxStreamsPerUser: c.MaxStreamsPerUser,
	}
	for _, p := range c.TrustedProxies {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return g, fmt.Errorf("gateway.trusted_proxies: %q is neither an address nor a CIDR prefix", p)
			}
			pre = netip.PrefixFrom(a, a.BitLen())
		}
		g.TrustedProxies = append(g.TrustedProxies, pre.Masked())
	}
	return g, nil
}

// RedisConfig says where Redis is.
type RedisConfig struct {
	// URL is a redis:// or rediss:// URL. Default redis://127.0.0.1:6379/0.
	// In cluster and sentinel mode, more addresses follow as
	// ?addr=host:port&addr=... (and, for sentinel, master_name=NAME).
	URL string `mapstructure:"url"`
	// Mode is single (default), cluster (a Redis Cluster) or sentinel (a
	// master found through Redis Sentinel).
	Mode string `mapstructure:"mode"`
	// WaitReplicas, when positive, makes every write wait until that many
	// replicas acknowledged it (WAIT), so that what was acknowledged
	// survives a failover; a write they do not acknowledge in WaitTimeout
	// fails. Single and sentinel mode only. Default 0: no waiting.
	WaitReplicas int `mapstructure:"wait_replicas"`
	// WaitTimeout bounds each wait for replicas. Default
	// durable.DefaultTimeout (1s).
	WaitTimeout time.Duration `mapstructure:"wait_timeout"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `mapstructure:"level"`
}

// ClientConfig configures the producer side (submit, job get).
type ClientConfig struct {
	// MaxPayload is the largest payload accepted, in bytes. Default 1 MiB.
	MaxPayload int `mapstructure:"max_payload"`
	// Retention is how long a finished job without a session stays
	// readable. Default 24h.
	Retention time.Duration `mapstructure:"retention"`
}

// WorkerConfig configures `sessionq worker` (and the worker of `sessionq dev`).
type WorkerConfig struct {
	// ID names the worker in leases and logs. Default host-pid-random.
	ID string `mapstructure:"id"`
	// Concurrency is the number of slots. Default 10.
	Concurrency int `mapstructure:"concurrency"`
	// Queues are the queues served, each NAME or NAME:WEIGHT (weighted
	// priority, e.g. critical:6). Default [default].
	Queues []string `mapstructure:"queues"`
	// StrictPriority serves a queue only when every queue of higher weight
	// is empty. Default false.
	StrictPriority bool `mapstructure:"strict_priority"`
	// Lease is the session lease. Default 10s.
	Lease time.Duration `mapstructure:"lease"`
	// ShutdownGrace is how long a stopping worker lets running jobs finish.
	// Default 10s.
	ShutdownGrace time.Duration `mapstructure:"shutdown_grace"`
	// Retention is how long a finished session job stays readable. Default 24h.
	Retention time.Duration `mapstructure:"retention"`
	// Exec maps job types to commands, each "TYPE=COMMAND". In the
	// environment (SESSIONQ_WORKER_EXEC) one mapping per line. Default none.
	Exec execList `mapstructure:"exec"`
	// ExecMaxOutput caps the output of an exec command kept as the job's
	// result, in bytes. Default 0: the exec handler's own (64 KiB).
	ExecMaxOutput int `mapstructure:"exec_max_output"`
	// ExecDir is the working directory of exec commands. Default "": the
	// worker's.
	ExecDir string `mapstructure:"exec_dir"`
	// ExecStderrLog is the level at which a failed exec command's stderr
	// (its last worker.ExecStderrLogMax bytes; it may hold payload text) is
	// logged, on a line of its own: off, debug, info, warn or error.
	// Default worker.DefaultExecStderrLog (debug).
	ExecStderrLog string `mapstructure:"exec_stderr_log"`
	// RepairInterval is the time between repair passes of the worker that
	// leads the maintenance election. Default 2s.
	RepairInterval time.Duration `mapstructure:"repair_interval"`
	// NoRepair keeps the worker out of the maintenance election. Default
	// false: every worker takes part.
	NoRepair bool `mapstructure:"no_repair"`
	// NoBatch sends each ledger call in a round trip of its own instead of
	// batching the calls of the worker's slots (worker.Config.NoBatching).
	NoBatch bool `mapstructure:"no_batch"`
	// MetricsAddr is where Prometheus metrics are served (/metrics), e.g.
	// ":9090". Default "": not served.
	MetricsAddr string `mapstructure:"metrics_addr"`
}

// SchedulerConfig configures `sessionq scheduler` (and the scheduler of
// `sessionq dev`).
type SchedulerConfig struct {
	// ID names the scheduler as a leadership candidate. Default host-pid-random.
	ID string `mapstructure:"id"`
	// Interval is the time between reconciler passes. Default 2s.
	Interval time.Duration `mapstructure:"interval"`
	// DispatchGrace is how long a dispatched job may lack its asynq task
	// before it is dispatched again. Default 5s.
	DispatchGrace time.Duration `mapstructure:"dispatch_grace"`
	// LeaderTerm is the leadership lease. Default 15s.
	LeaderTerm time.Duration `mapstructure:"leader_term"`
	// MetricsAddr is where Prometheus metrics are served (/metrics), e.g.
	// ":9091". Default "": not served.
	MetricsAddr string `mapstructure:"metrics_addr"`
	// Periodic are the periodic jobs the leader submits (config file
	// only). Default none.
	Periodic []PeriodicConfig `mapstructure:"periodic"`
}

// PeriodicConfig is one periodic job (see scheduler.Periodic).
type PeriodicConfig struct {
	// Name identifies it. Required.
	Name string `mapstructure:"name"`
	// Spec is a cron spec (5 fields, 6 with seconds, or @daily, @every 10m).
	Spec string `mapstructure:"spec"`
	// Every is an interval, e.g. 10m, instead of Spec.
	Every time.Duration `mapstructure:"every"`
	// Type is the job type. Required.
	Type string `mapstructure:"type"`
	// Payload is the job's payload. Default empty.
	Payload string `mapstructure:"payload"`
	// Session is the session of the jobs. Default none.
	Session string `mapstructure:"session"`
	// Queue is the queue of the jobs. Default "default".
	Queue string `mapstructure:"queue"`
	// CatchUp is how late a missed tick may be fired. Default 1m.
	CatchUp time.Duration `mapstructure:"catch_up"`
}

// execList is a list of TYPE=COMMAND mappings. Its own type lets the
// decoder split an environment variable on newlines rather than commas,
// which commands may contain.
type execList []string

// configKeys are every key of Config with its default. A flag bound to a
// key takes its default from here, so `--help` and the config agree.
var configKeys = map[string]any{
	"redis.url":                     "redis://127.0.0.1:6379/0",
	"redis.mode":                    "single",
	"redis.wait_replicas":           0,
	"redis.wait_timeout":            durable.DefaultTimeout,
	"log.level":                     "info",
	"client.max_payload":            jobs.DefaultMaxPayload,
	"client.retention":              jobs.DefaultRetention,
	"worker.id":                     "",
	"worker.concurrency":            worker.DefaultConcurrency,
	"worker.queues":                 []string{jobs.DefaultQueue},
	"worker.strict_priority":        false,
	"worker.lease":                  worker.DefaultLease,
	"worker.shutdown_grace":         worker.DefaultShutdownGrace,
	"worker.retention":              worker.DefaultRetention,
	"worker.repair_interval":        scheduler.DefaultInterval,
	"worker.no_repair":              false,
	"worker.no_batch":               false,
	"worker.exec":                   []string{},
	"worker.exec_max_output":        0,
	"worker.exec_dir":               "",
	"worker.exec_stderr_log":        worker.DefaultExecStderrLog,
	"worker.metrics_addr":           "",
	"scheduler.metrics_addr":        "",
	"scheduler.id":                  "",
	"scheduler.interval":            scheduler.DefaultInterval,
	"scheduler.dispatch_grace":      scheduler.DefaultDispatchGrace,
	"scheduler.leader_term":         15 * time.Second,
	"gateway.addr":                  gateway.DefaultAddr,
	"gateway.cookie_secure":         false,
	"gateway.tls_cert":              "",
	"gateway.tls_key":               "",
	"gateway.metrics_addr":          "",
	"gateway.trusted_proxies":       []string{},
	"gateway.login_rate":            gateway.DefaultLoginRate,
	"gateway.login_failure_ceiling": gateway.DefaultLoginFailureCeiling,
	"gateway.login_token_ttl":       gateway.DefaultLoginTokenTTL,
	"gateway.max_streams":           gateway.DefaultMaxStreams,
	"gateway.max_streams_per_user":  gateway.DefaultMaxStreamsPerUser,
}

// sections are the top-level keys Config owns; unknown keys inside them
// are errors. The session section is read by sessionConfig; every section
// is listed in knownSections (known.go), and any other top-level key is an
// error.
var sections = []string{"redis", "log", "client", "worker", "scheduler", "gateway"}

// bindFlags binds flags of cmd to config keys (flag name -> key). It runs
// when the command runs, not when it is built, because a viper key holds
// one flag and several commands have flags for the same key.
func (e *env) bindFlags(cmd *cobra.Command, flags map[string]string) error {
	for name, key := range flags {
		f := cmd.Flags().Lookup(name)
		if f == nil {
			return fmt.Errorf("internal error: command %s has no flag --%s", cmd.Name(), name)
		}
		if err := e.v.BindPFlag(key, f); err != nil {
			return fmt.Errorf("binding flag --%s: %w", name, err)
		}
	}
	return nil
}

// config reads the whole configuration. Call it after bindFlags.
func (e *env) config() (*Config, error) {
	for k, def := range configKeys {
		e.v.SetDefault(k, def)
	}
	all := e.v.AllSettings()
	var c Config
	for _, name := range sections {
		raw, ok := all[name]
		if !ok {
			continue
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, e.configError(fmt.Errorf("%s: want a mapping of keys, got %T", name, raw))
		}
		if err := decodeSection(name, m, &c); err != nil {
			return nil, e.configError(err)
		}
	}
	if err := c.validate(); err != nil {
		return nil, e.configError(err)
	}
	return &c, nil
}

// configError says where the configuration came from.
func (e *env) configError(err error) error {
	if f := e.v.ConfigFileUsed(); f != "" {
		return fmt.Errorf("invalid configuration (flags, SESSIONQ_* environment, %s): %w", f, err)
	}
	return fmt.Errorf("invalid configuration: %w", err)
}

// decodeSection decodes section name of the settings into its field of c,
// refusing unknown keys, with a one-line error naming the key.
func decodeSection(name string, m map[string]any, c *Config) error {
	field, ok := sectionField(c, name)
	if !ok {
		return fmt.Errorf("internal error: no config section %q", name)
	}
	known := fieldKeys(field.Type())
	for k := range m {
		if !slices.Contains(known, k) {
			return fmt.Errorf("unknown key %s.%s (known: %s)", name, k, strings.Join(known, ", "))
		}
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           field.Addr().Interface(),
		WeaklyTypedInput: true,
		ErrorUnused:      true, // unknown keys nested in a section (scheduler.periodic)
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			execListHook,
			durationHook,
			mapstructure.StringToSliceHookFunc(","),
		),
	})
	if err != nil {
		return fmt.Errorf("internal error: %w", err)
	}
	if err := dec.Decode(m); err != nil {
		return flattenDecodeError(name, err)
	}
	return nil
}

func sectionField(c *Config, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		if v.Type().Field(i).Tag.Get("mapstructure") == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func fieldKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		out = append(out, t.Field(i).Tag.Get("mapstructure"))
	}
	slices.Sort(out)
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// durationHook parses durations ("1.5s", "250ms") with an error that says
// what is wrong; a bare number is refused rather than read as nanoseconds.
func durationHook(f, t reflect.Type, data any) (any, error) {
	if t != durationType {
		return data, nil
	}
	switch f.Kind() {
	case reflect.String:
		s := strings.TrimSpace(data.(string))
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q: want a number with a unit, such as 500ms, 10s or 5m", s)
		}
		return d, nil
	case reflect.Int64:
		if f == durationType {
			return data, nil
		}
	}
	return nil, fmt.Errorf("invalid duration %v: want a number with a unit, such as 500ms, 10s or 5m", data)
}

// execListHook reads a string (an environment variable) as one mapping per
// line.
func execListHook(f, t reflect.Type, data any) (any, error) {
	if t != reflect.TypeFor[execList]() || f.Kind() != reflect.String {
		return data, nil
	}
	var out []string
	for line := range strings.SplitSeq(data.(string), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out, nil
}

// flattenDecodeError turns mapstructure's multi-line report into one line
// naming the first key at fault.
func flattenDecodeError(section string, err error) error {
	var de *mapstructure.DecodeError
	if errors.As(err, &de) {
		key := section + "." + de.Name()
		var pe *mapstructure.ParseError
		if errors.As(de, &pe) {
			return fmt.Errorf("%s: invalid value %q: want %s", key, fmt.Sprint(pe.Value), pe.Expected.Type())
		}
		return fmt.Errorf("%s: %w", key, de.Unwrap())
	}
	return fmt.Errorf("%s: %s", section, strings.Join(strings.Fields(err.Error()), " "))
}

func (c *Config) validate() error {
	// The libraries read a zero as "use the default": a zero given here
	// would be silently replaced, so it is refused.
	positive := []struct {
		key string
		val any
		bad bool
	}{
		{"client.max_payload", c.Client.MaxPayload, c.Client.MaxPayload <= 0},
		{"client.retention", c.Client.Retention, c.Client.Retention <= 0},
		{"worker.concurrency", c.Worker.Concurrency, c.Worker.Concurrency <= 0},
		{"worker.lease", c.Worker.Lease, c.Worker.Lease <= 0},
		{"worker.shutdown_grace", c.Worker.ShutdownGrace, c.Worker.ShutdownGrace <= 0},
		{"worker.retention", c.Worker.Retention, c.Worker.Retention <= 0},
		{"worker.repair_interval", c.Worker.RepairInterval, c.Worker.RepairInterval <= 0},
		{"scheduler.interval", c.Scheduler.Interval, c.Scheduler.Interval <= 0},
		{"scheduler.dispatch_grace", c.Scheduler.DispatchGrace, c.Scheduler.DispatchGrace <= 0},
		{"scheduler.leader_term", c.Scheduler.LeaderTerm, c.Scheduler.LeaderTerm <= 0},
	}
	for _, p := range positive {
		if p.bad {
			return fmt.Errorf("%s %v: must be positive", p.key, p.val)
		}
	}
	if c.Redis.WaitReplicas < 0 || c.Redis.WaitReplicas > durable.MaxReplicas {
		return fmt.Errorf("redis.wait_replicas %d: want 0 to %d", c.Redis.WaitReplicas, durable.MaxReplicas)
	}
	if c.Redis.WaitTimeout <= 0 {
		return fmt.Errorf("redis.wait_timeout %v: must be positive", c.Redis.WaitTimeout)
	}
	if len(c.Worker.Queues) == 0 {
		return errors.New("worker.queues is empty: give at least one queue (default: " + jobs.DefaultQueue + ")")
	}
	for _, q := range c.Worker.Queues {
		if strings.TrimSpace(q) == "" {
			return fmt.Errorf("worker.queues %q: a queue name is empty", strings.Join(c.Worker.Queues, ","))
		}
	}
	if l := c.Worker.ExecStderrLog; !slices.Contains([]string{worker.ExecStderrOff, "debug", "info", "warn", "error"}, l) {
		return fmt.Errorf("worker.exec_stderr_log %q: want off, debug, info, warn or error", l)
	}
	if c.Worker.ExecMaxOutput < 0 {
		return fmt.Errorf("worker.exec_max_output %d: must not be negative", c.Worker.ExecMaxOutput)
	}
	if _, err := c.Worker.execMappings(); err != nil {
		return err
	}
	if _, _, err := parseQueues(c.Worker.Queues); err != nil {
		return err
	}
	for i, p := range c.Scheduler.periodic() {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("scheduler.periodic[%d]: %w", i, err)
		}
	}
	return nil
}

// logger is the logger of a command's components: text on the command's
// stderr at the configured level. Commands pass it down rather than rely on
// slog.Default, a process global.
func (e *env) logger(c *Config) *slog.Logger {
	lvl := slog.LevelInfo
	_ = lvl.UnmarshalText([]byte(c.Log.Level)) // checked by load
	return slog.New(slog.NewTextHandler(e.errOut, &slog.HandlerOptions{Level: lvl}))
}

// execMapping is one --exec TYPE=COMMAND.
type execMapping struct {
	jobType string
	command string
}

func (w WorkerConfig) execMappings() ([]execMapping, error) {
	var out []execMapping
	seen := map[string]bool{}
	for _, s := range w.Exec {
		typ, command, ok := strings.Cut(s, "=")
		typ, command = strings.TrimSpace(typ), strings.TrimSpace(command)
		if !ok || typ == "" || command == "" {
			return nil, fmt.Errorf("worker.exec %q: want TYPE=COMMAND", s)
		}
		if err := jobs.ValidateType(typ); err != nil {
			return nil, fmt.Errorf("worker.exec %q: %w", s, err)
		}
		if seen[typ] {
			return nil, fmt.Errorf("worker.exec: job type %q mapped twice", typ)
		}
		seen[typ] = true
		out = append(out, execMapping{jobType: typ, command: command})
	}
	return out, nil
}

// workerConfig is the library configuration of a worker.
func (w WorkerConfig) workerConfig() worker.Config {
	queues, weights, _ := parseQueues(w.Queues) // checked by validate
	return worker.Config{
		ID:             w.ID,
		Concurrency:    w.Concurrency,
		Queues:         queues,
		Priorities:     weights,
		StrictPriority: w.StrictPriority,
		Lease:          w.Lease,
		ShutdownGrace:  w.ShutdownGrace,
		Retention:      w.Retention,
		ExecStderrLog:  w.ExecStderrLog,

		Maintenance:   scheduler.Config{Interval: w.RepairInterval},
		NoMaintenance: w.NoRepair,
		NoBatching:    w.NoBatch,
	}
}

// schedulerConfig is the library configuration of a scheduler.
func (s SchedulerConfig) schedulerConfig() scheduler.Config {
	return scheduler.Config{
		ID:            s.ID,
		Interval:      s.Interval,
		DispatchGrace: s.DispatchGrace,
		LeaderTerm:    s.LeaderTerm,
		Periodic:      s.periodic(),
	}
}

// periodic is the library form of the periodic jobs.
func (s SchedulerConfig) periodic() []scheduler.Periodic {
	var out []scheduler.Periodic
	for _, p := range s.Periodic {
		out = append(out, scheduler.Periodic{
			Name: p.Name, Spec: p.Spec, Every: p.Every, Type: p.Type, Payload: []byte(p.Payload),
			Session: p.Session, Queue: p.Queue, CatchUp: p.CatchUp,
		})
	}
	return out
}

// jobsConfig is the library configuration of a jobs client.
func (c ClientConfig) jobsConfig() jobs.ClientConfig {
	return jobs.ClientConfig{MaxPayload: c.MaxPayload, Retention: c.Retention}
}

// Flag helpers: the flags of one key are declared once, with the key's
// default, and bound when the command runs.

func defString(key string) string { return configKeys[key].(string) }
func defInt(key string) int       { return configKeys[key].(int) }
func defDuration(key string) time.Duration {
	return configKeys[key].(time.Duration)
}
func defStrings(key string) []string { return configKeys[key].([]string) }

// envName is the environment variable of a key, for help texts.
func envName(key string) string {
	return "SESSIONQ_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// usage appends the key's environment variable to a flag's help.
func usage(text, key string) string { return text + " (env " + envName(key) + ")" }
