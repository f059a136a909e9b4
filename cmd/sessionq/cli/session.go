package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
)

// SessionConfig configures the session table: the `session` section of the
// configuration (SESSIONQ_SESSION_*), read by the session commands, and by
// the worker and scheduler, which attach jobs to sessions and sweep them.
type SessionConfig struct {
	// IdleTimeout of a session created without --idle-timeout. Default 30m.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxIdleTimeout is the longest idle timeout a session may ask for.
	// Default sessiontable.DefaultMaxIdleTimeout (24h).
	MaxIdleTimeout time.Duration `mapstructure:"max_idle_timeout"`
	// Lifetime of a session created without --lifetime. Default 0:
	// MaxLifetime.
	Lifetime time.Duration `mapstructure:"lifetime"`
	// MaxLifetime is the longest absolute lifetime of a session; every
	// session has one. Default sessiontable.DefaultMaxLifetime (720h).
	MaxLifetime time.Duration `mapstructure:"max_lifetime"`
	// MaxPerOwner caps the open sessions of one owner; it can be raised,
	// not turned off. Default sessiontable.DefaultMaxSessionsPerOwner
	// (1000).
	MaxPerOwner int `mapstructure:"max_per_owner"`
	// Dir keeps session files in this directory (a volume shared by every
	// worker) instead of Redis. Default "": in Redis.
	Dir string `mapstructure:"dir"`
	// MaxFileSize caps one session file, in bytes. Default 1 MiB.
	MaxFileSize int64 `mapstructure:"max_file_size"`
	// MaxSessionBytes caps the files of one session, in bytes (Redis
	// storage). Default 8 MiB.
	MaxSessionBytes int64 `mapstructure:"max_session_bytes"`
	// HotBacklog is the backlog from which a session is reported hot.
	// Default 1000; negative: off.
	HotBacklog int `mapstructure:"hot_backlog"`
	// MaxBacklog caps the unfinished jobs of one session: a submit beyond
	// it fails and writes nothing (submit --max-backlog overrides it).
	// Default jobs.DefaultMaxBacklog (100,000).
	MaxBacklog int `mapstructure:"max_backlog"`
}

// sessionKeys are the keys of SessionConfig with their defaults.
var sessionKeys = map[string]any{
	"session.idle_timeout":      sessiontable.DefaultIdleTimeout,
	"session.max_idle_timeout":  sessiontable.DefaultMaxIdleTimeout,
	"session.lifetime":          time.Duration(0),
	"session.max_lifetime":      sessiontable.DefaultMaxLifetime,
	"session.max_per_owner":     sessiontable.DefaultMaxSessionsPerOwner,
	"session.dir":               "",
	"session.max_file_size":     int64(sessiontable.DefaultMaxFileSize),
	"session.max_session_bytes": int64(sessiontable.DefaultMaxSessionBytes),
	"session.hot_backlog":       sessiontable.DefaultHotBacklog,
	"session.max_backlog":       jobs.DefaultMaxBacklog,
}

// sessionConfig reads the session section, refusing unknown keys.
func (e *env) sessionConfig() (SessionConfig, error) {
	for k, def := range sessionKeys {
		e.v.SetDefault(k, def)
	}
	var c SessionConfig
	m, ok := e.v.AllSettings()["session"].(map[string]any)
	if !ok {
		return c, e.configError(fmt.Errorf("session: want a mapping of keys"))
	}
	known := fieldKeys(reflect.TypeFor[SessionConfig]())
	for k := range m {
		if !slices.Contains(known, k) {
			return c, e.configError(fmt.Errorf("unknown key session.%s (known: %s)", k, strings.Join(known, ", ")))
		}
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: &c, WeaklyTypedInput: true, DecodeHook: durationHook,
	})
	if err != nil {
		return c, fmt.Errorf("internal error: %w", err)
	}
	if err := dec.Decode(m); err != nil {
		return c, e.configError(flattenDecodeError("session", err))
	}
	switch {
	case c.IdleTimeout <= 0:
		return c, e.configError(fmt.Errorf("session.idle_timeout %s: must be positive", c.IdleTimeout))
	case c.Lifetime < 0:
		return c, e.configError(fmt.Errorf("session.lifetime %s: must not be negative (0: session.max_lifetime)", c.Lifetime))
	case c.MaxIdleTimeout <= 0:
		return c, e.configError(fmt.Errorf("session.max_idle_timeout %s: must be positive (there is no unlimited; raise it instead)", c.MaxIdleTimeout))
	case c.MaxLifetime <= 0:
		return c, e.configError(fmt.Errorf("session.max_lifetime %s: must be positive (there is no unlimited; raise it instead)", c.MaxLifetime))
	case c.MaxPerOwner <= 0:
		return c, e.configError(fmt.Errorf("session.max_per_owner %d: must be positive (there is no unlimited; raise it instead)", c.MaxPerOwner))
	case c.MaxFileSize <= 0 || c.MaxSessionBytes <= 0:
		return c, e.configError(fmt.Errorf("session.max_file_size and session.max_session_bytes must be positive"))
	case c.MaxBacklog <= 0:
		return c, e.configError(fmt.Errorf("session.max_backlog %d: must be positive (there is no unlimited)", c.MaxBacklog))
	case c.HotBacklog == 0:
		return c, e.configError(fmt.Errorf("session.hot_backlog 0: give a positive threshold, or a negative one to turn detection off"))
	}
	return c, nil
}

// sessionTable opens the session table on rdb as configured. The worker
// (Config.Attacher) and the scheduler (a sessiontable.Sweeper task) use it
// too.
func (e *env) sessionTable(rdb redis.UniversalClient) (*sessiontable.Table, SessionConfig, error) {
	c, err := e.sessionConfig()
	if err != nil {
		return nil, c, err
	}
	cfg := sessiontable.Config{
		IdleTimeout: c.IdleTimeout, Lifetime: c.Lifetime, MaxSessionsPerOwner: c.MaxPerOwner,
		MaxIdleTimeout: c.MaxIdleTimeout, MaxLifetime: c.MaxLifetime,
		MaxFileSize: c.MaxFileSize, MaxSessionBytes: c.MaxSessionBytes, HotBacklog: c.HotBacklog,
	}
	if c.Dir != "" {
		d, err := sessiontable.NewDirStorage(c.Dir)
		if err != nil {
			return nil, c, e.configError(fmt.Errorf("session.dir: %w", err))
		}
		cfg.Storage = d
	}
	t, err := sessiontable.New(rdb, cfg)
	if err != nil {
		return nil, c, e.configError(err)
	}
	return t, c, nil
}

// withTable runs f with the configured table.
func (e *env) withTable(cmd *cobra.Command, f func(ctx context.Context, t *sessiontable.Table, c SessionConfig) error) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	cn, err := e.connect(cmd, cfg)
	if err != nil {
		return err
	}
	defer cn.close()
	ctx, rdb := cn.ctx, cn.rdb
	t, c, err := e.sessionTable(rdb)
	if err != nil {
		return err
	}
	return f(ctx, t, c)
}

func newSessionCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "session",
		Short: "Create, inspect and close sessions, their parameters and files",
		Long: `Manage the session table. A session has an owner, an optional terminal ID
(TID), string parameters, named files and an idle timeout: every use refreshes
it, unless flagged --out-of-session. Jobs submitted with --session ID run in
it: they see its files as a local directory and its parameters, and what they
change is written back when they succeed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSessionCreateCmd(e), newSessionEstablishCmd(e), newSessionGetCmd(e),
		newSessionListCmd(e), newSessionParamCmd(e), newSessionFileCmd(e), newSessionCloseCmd(e),
		newSessionHotCmd(e), newSessionJobsCmd(e), newSessionPauseCmd(e, true), newSessionPauseCmd(e, false),
		newSessionSkipCmd(e))
	return cmd
}

// specFlags are the flags that describe a new session.
type specFlags struct {
	owner    string
	tid      string
	idle     time.Duration
	lifetime time.Duration
	params   []string
	replace  bool
	given    func(name string) bool // flags set on the command line
}

func (f *specFlags) add(cmd *cobra.Command, tidHelp string) {
	fs := cmd.Flags()
	f.given = fs.Changed
	fs.StringVar(&f.owner, "owner", "", "owner of the session, and the namespace of its TID; open sessions per owner may be capped (default "+sessiontable.DefaultOwner+")")
	fs.StringVar(&f.tid, "tid", "", tidHelp)
	fs.DurationVar(&f.idle, "idle-timeout", 0, "idle timeout, positive, at most session.max_idle_timeout (default session.idle_timeout, 30m)")
	fs.DurationVar(&f.lifetime, "lifetime", 0, "absolute lifetime, positive, at most session.max_lifetime (default session.lifetime, else session.max_lifetime, 720h)")
	fs.StringArrayVar(&f.params, "param", nil, "parameter key=value (repeatable)")
	fs.BoolVar(&f.replace, "replace-tid", false, "take the TID over from the session bound to it")
}

func (f *specFlags) spec() (sessiontable.Spec, error) {
	s := sessiontable.Spec{Owner: f.owner, TID: f.tid, IdleTimeout: f.idle, Lifetime: f.lifetime, ReplaceTID: f.replace}
	// A flag given empty or zero is an error, never "the default".
	if f.given("idle-timeout") && f.idle <= 0 {
		return s, fmt.Errorf("invalid --idle-timeout %s: must be positive (omit it for session.idle_timeout)", f.idle)
	}
	for _, fl := range []struct{ name, val string }{{"tid", f.tid}, {"owner", f.owner}} {
		if f.given(fl.name) && strings.TrimSpace(fl.val) == "" {
			return s, fmt.Errorf("invalid --%s %q: must not be empty (omit it for none)", fl.name, fl.val)
		}
	}
	if f.given("lifetime") && f.lifetime <= 0 {
		return s, fmt.Errorf("invalid --lifetime %s: must be positive (omit it for session.lifetime)", f.lifetime)
	}
	if len(f.params) > 0 {
		s.Params = map[string]string{}
	}
	for _, p := range f.params {
		k, v, err := sessiontable.ParseParam(p)
		if err != nil {
			return s, fmt.Errorf("--param: %w", err)
		}
		if _, dup := s.Params[k]; dup {
			return s, fmt.Errorf("--param %q given twice", k)
		}
		s.Params[k] = v
	}
	return s, nil
}

func newSessionCreateCmd(e *env) *cobra.Command {
	var f specFlags
	cmd := &cobra.Command{
		Use:   "create [--tid T] [--owner U] [--idle-timeout D] [--param k=v]...",
		Short: "Create a session and print its ID",
		Long: `Create a session and print its ID alone on standard output. With --tid the
session is bound to that terminal ID of its owner; binding a TID another live
session of the owner holds is an error unless --replace-tid.`,
		Example: `  S=$(sessionq session create --tid ws-042 --owner alice --param lang=en)
  sessionq submit --type doc.render --session "$S"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := f.spec()
			if err != nil {
				return err
			}
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				in, err := t.Create(ctx, spec)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(e.out, in.ID)
				return err
			})
		},
	}
	f.add(cmd, "terminal ID to bind the session to")
	return cmd
}

func newSessionEstablishCmd(e *env) *cobra.Command {
	var f specFlags
	var create bool
	cmd := &cobra.Command{
		Use:   "establish --tid T [--create]",
		Short: "Find the session bound to a TID, or create one, and print its ID",
		Long: `Establish a session as a client of the multichannel protocol does. With
--create, a new session bound to --tid when given (as session create). Without,
the live session of --owner bound to --tid: an error when --tid is missing,
and a not-found error when no live session is bound to it. TIDs are per
owner: each owner's ws-042 is a TID of its own.`,
		Example: `  sessionq session establish --create --tid ws-042 --owner alice
  sessionq session establish --tid ws-042 --owner alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := f.spec()
			if err != nil {
				return err
			}
			if spec.TID == "" && !create {
				return sessiontable.ErrTIDRequired
			}
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				in, err := t.Establish(ctx, create, spec)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(e.out, in.ID)
				return err
			})
		},
	}
	f.add(cmd, "terminal ID: of the session to find, or to bind the new one to")
	cmd.Flags().BoolVar(&create, "create", false, "create a new session instead of finding one")
	return cmd
}

// callFlags qualify a call on one session.
type callFlags struct {
	app string
	oos bool
}

func (f *callFlags) add(cmd *cobra.Command, withApp bool) {
	if withApp {
		cmd.Flags().StringVarP(&f.app, "application-id", "a", "", "application sub-session: its parameters, falling back to the session's")
	}
	cmd.Flags().BoolVar(&f.oos, "out-of-session", false, "do not refresh the session's idle timer")
}

func (f *callFlags) opts() []sessiontable.CallOption {
	var o []sessiontable.CallOption
	if f.app != "" {
		o = append(o, sessiontable.Application(f.app))
	}
	if f.oos {
		o = append(o, sessiontable.OutOfSession())
	}
	return o
}

// viewInfo is a session as the wire contract shows it (api.Session), as
// session get --api prints it.
func viewInfo(in *sessiontable.Info) api.Session {
	return api.Session{
		SessionID: in.ID, Owner: in.Owner, TID: in.TID, State: string(in.State), Created: in.Created,
		LastAccess: in.LastAccess, IdleTimeout: in.IdleTimeout.String(), Deadline: in.Deadline, Expires: in.Expires,
	}
}

func (e *env) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.out, "%s\n", b)
	return err
}

func newSessionGetCmd(e *env) *cobra.Command {
	var f callFlags
	cmd := &cobra.Command{
		Use:     "get ID",
		Short:   "Print a session as JSON",
		Example: `  sessionq session get "$S"`,
		Args:    exactArgs("session get", "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				in, err := t.Get(ctx, args[0], f.opts()...)
				if err != nil {
					return err
				}
				return e.printJSON(viewInfo(in))
			})
		},
	}
	f.add(cmd, false)
	return cmd
}

func newSessionListCmd(e *env) *cobra.Command {
	var owner string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--owner U]",
		Short: "List open sessions, oldest first",
		Long:  `List open sessions, oldest first. Listing does not refresh their idle timers.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				l, err := t.List(ctx, sessiontable.ListOptions{Owner: owner, Limit: limit})
				if err != nil {
					return err
				}
				out := make([]api.Session, len(l))
				for i, in := range l {
					out[i] = viewInfo(in)
				}
				return writeList(e.out, asJSON, out, "ID\tOWNER\tTID\tCREATED\tEXPIRES", func(w io.Writer, s api.Session) {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.SessionID, s.Owner, dash(s.TID),
						s.Created.Format(time.RFC3339), s.Expires.Format(time.RFC3339))
				})
			})
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "only this owner's sessions")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines, one session per line as session get prints it (default: a table)")
	return cmd
}

func newSessionCloseCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "close ID",
		Short: "Close a session at once",
		Long: `Close a session at once: its parameters, sub-sessions and files are deleted,
its TID released, and a session.closed event emitted. Jobs still queued for it
run inactive.`,
		Args: exactArgs("session close", "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				return t.Close(ctx, args[0])
			})
		},
	}
}

func newSessionHotCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hot",
		Short: "List the sessions whose backlog passed session.hot_backlog lately",
		Long: `List the sessions whose backlog of jobs passed session.hot_backlog lately, as
a table (or JSON Lines with --json). The jobs of one session run one at a
time, so a session ID shared by much work (a fixed session ID on every job)
holds it all on one worker slot.`,
		Args: cobra.NoArgs,
	}
	asJSON := jsonFlag(cmd, "session")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
			hot, err := t.HotSessions(ctx)
			if err != nil {
				return err
			}
			return writeList(e.out, *asJSON, hot, "ID\tBACKLOG\tSEEN", func(w io.Writer, s sessiontable.HotSession) {
				fmt.Fprintf(w, "%s\t%d\t%s\n", s.ID, s.Backlog, stamp(s.Seen))
			})
		})
	}
	return cmd
}

func newSessionParamCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "param",
		Short: "Set, get, list and delete session parameters",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var set, get, list, del callFlags
	setCmd := &cobra.Command{
		Use:     "set ID key=value...",
		Short:   "Set parameters, all or none",
		Example: `  sessionq session param set "$S" my_stored_info=3.14 lang=en`,
		Args:    minArgs("session param set", 2, "a session ID and key=value"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv := map[string]string{}
			for _, p := range args[1:] {
				k, v, err := sessiontable.ParseParam(p)
				if err != nil {
					return err
				}
				kv[k] = v
			}
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				return t.SetParams(ctx, args[0], kv, set.opts()...)
			})
		},
	}
	getCmd := &cobra.Command{
		Use:   "get ID KEY",
		Short: "Print one parameter's value",
		Args:  exactArgs("session param get", "a session ID and a key", 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				v, err := t.Param(ctx, args[0], args[1], get.opts()...)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(e.out, v)
				return err
			})
		},
	}
	listCmd := &cobra.Command{
		Use:   "list ID",
		Short: "Print every parameter as one JSON object",
		Args:  exactArgs("session param list", "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				m, err := t.Params(ctx, args[0], list.opts()...)
				if err != nil {
					return err
				}
				return e.printJSON(m)
			})
		},
	}
	delCmd := &cobra.Command{
		Use:   "delete ID KEY...",
		Short: "Delete parameters (a missing one is not an error)",
		Args:  minArgs("session param delete", 2, "a session ID and a key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				for _, k := range args[1:] {
					if err := t.DeleteParam(ctx, args[0], k, del.opts()...); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	set.add(setCmd, true)
	get.add(getCmd, true)
	list.add(listCmd, true)
	del.add(delCmd, true)
	cmd.AddCommand(setCmd, getCmd, listCmd, delCmd)
	return cmd
}

func newSessionFileCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "file",
		Short: "Put, get, list and delete session files",
		Long: `Put, get, list and delete the files of a session. Names are flat: no '/',
'\', "." or "..", so no name can leave the session's directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var put, get, list, del callFlags
	var out string
	var fileJSON bool
	putCmd := &cobra.Command{
		Use:     "put ID NAME [FILE]",
		Short:   "Store a file, from FILE or standard input",
		Example: `  sessionq session file put "$S" data.xml ./data.xml`,
		Args:    rangeArgs("session file put", 2, 3, "a session ID, a file name and optionally a local file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, c SessionConfig) error {
				data, err := readLimited(cmd.InOrStdin(), args[2:], c.MaxFileSize)
				if err != nil {
					return err
				}
				return t.PutFile(ctx, args[0], args[1], data, put.opts()...)
			})
		},
	}
	getCmd := &cobra.Command{
		Use:   "get ID NAME",
		Short: "Write a file to standard output (or --output)",
		Args:  exactArgs("session file get", "a session ID and a file name", 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				b, err := t.File(ctx, args[0], args[1], get.opts()...)
				if err != nil {
					return err
				}
				if out != "" {
					return os.WriteFile(out, b, 0o600)
				}
				_, err = e.out.Write(b)
				return err
			})
		},
	}
	listCmd := &cobra.Command{
		Use:   "list ID",
		Short: "List files with their sizes",
		Args:  exactArgs("session file list", "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				fs, err := t.Files(ctx, args[0], list.opts()...)
				if err != nil {
					return err
				}
				out := make([]api.File, len(fs))
				for i, f := range fs {
					out[i] = api.File(f)
				}
				return writeList(e.out, fileJSON, out, "NAME\tSIZE", func(w io.Writer, f api.File) {
					fmt.Fprintf(w, "%s\t%d\n", f.Name, f.Size)
				})
			})
		},
	}
	delCmd := &cobra.Command{
		Use:   "delete ID NAME...",
		Short: "Delete files (a missing one is not an error)",
		Args:  minArgs("session file delete", 2, "a session ID and a file name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withTable(cmd, func(ctx context.Context, t *sessiontable.Table, _ SessionConfig) error {
				for _, name := range args[1:] {
					if err := t.DeleteFile(ctx, args[0], name, del.opts()...); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	getCmd.Flags().StringVarP(&out, "output", "o", "", "write the file here instead of standard output")
	put.add(putCmd, false)
	get.add(getCmd, false)
	list.add(listCmd, false)
	listCmd.Flags().BoolVar(&fileJSON, "json", false, "print JSON Lines, one file per line (default: a table)")
	del.add(delCmd, false)
	cmd.AddCommand(putCmd, getCmd, listCmd, delCmd)
	return cmd
}

// readLimited reads the local file named in args (none or "-": stdin),
// refusing more than limit bytes without reading further.
func readLimited(stdin io.Reader, args []string, limit int64) ([]byte, error) {
	r, name := stdin, "standard input"
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, args[0]
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes (session.max_file_size)", name, limit)
	}
	return b, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// exactArgs wants n arguments (default 1), described by what.
func exactArgs(cmd, what string, n ...int) cobra.PositionalArgs {
	want := 1
	if len(n) > 0 {
		want = n[0]
	}
	return rangeArgs(cmd, want, want, what)
}

func minArgs(cmd string, n int, what string) cobra.PositionalArgs {
	return rangeArgs(cmd, n, -1, what)
}

func rangeArgs(cmd string, lo, hi int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < lo || hi >= 0 && len(args) > hi {
			return fmt.Errorf("%s takes %s, got %d arguments", cmd, what, len(args))
		}
		return nil
	}
}
