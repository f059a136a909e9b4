package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/client"
	"github.com/sessionq/sessionq/sessiontable"
)

// The --api mode: submit, job and session talk to a gateway (sessionq
// serve) with the Go client instead of Redis, as the user of the token in
// SESSIONQ_TOKEN; the gateway enforces the user's rights.
const (
	envAPIURL = "SESSIONQ_API_URL"
	envToken  = "SESSIONQ_TOKEN"
)

// apiRun runs one command through the gateway.
type apiRun func(ctx context.Context, e *env, cmd *cobra.Command, args []string, conn *client.Conn) error

// apiCommands are the commands --api covers, by command path without the
// root's name.
var apiCommands = map[string]apiRun{
	"submit":            apiSubmit,
	"job get":           apiJobGet,
	"job cancel":        apiJobCancel,
	"session create":    apiSessionCreate,
	"session get":       apiSessionGet,
	"session param get": apiParamGet,
	"session param set": apiParamSet,
}

func apiCovered() string {
	names := make([]string, 0, len(apiCommands))
	for n := range apiCommands {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// withAPI adds --api to the command built by build and its subcommands:
// with it (or SESSIONQ_API_URL) a covered command runs through the gateway,
// any other refuses to run.
func withAPI(build func(*env) *cobra.Command) func(*env) *cobra.Command {
	return func(e *env) *cobra.Command {
		cmd := build(e)
		cmd.PersistentFlags().String("api", "", "talk to this gateway (sessionq serve) instead of Redis, as the user of the token in "+envToken+" (env "+envAPIURL+")")
		var wrap func(c *cobra.Command)
		wrap = func(c *cobra.Command) {
			for _, sub := range c.Commands() {
				wrap(sub)
			}
			if c.RunE == nil || c.HasSubCommands() {
				return
			}
			orig := c.RunE
			c.RunE = func(cmd *cobra.Command, args []string) error {
				url, _ := cmd.Flags().GetString("api")
				if url == "" {
					url = os.Getenv(envAPIURL)
				}
				if url == "" {
					return orig(cmd, args)
				}
				return runAPI(e, cmd, args, url)
			}
		}
		wrap(cmd)
		return cmd
	}
}

func runAPI(e *env, cmd *cobra.Command, args []string, url string) error {
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	run, ok := apiCommands[path]
	if !ok {
		return fmt.Errorf("%s is not available with --api (covered: %s); use --redis", path, apiCovered())
	}
	tok := os.Getenv(envToken)
	if tok == "" {
		return fmt.Errorf("--api needs a token in %s (sessionq user token create, or POST /v1/login)", envToken)
	}
	ctx := cmd.Context()
	conn, err := client.Dial(ctx, url, client.Token(tok), client.WithoutConnectionSession())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return run(ctx, e, cmd, args, conn)
}

// refuseFlags fails when a flag the gateway has no equivalent for is given.
func refuseFlags(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			return fmt.Errorf("--%s is not available with --api", n)
		}
	}
	return nil
}

// sessionCtx activates session id (and sub-session app) in ctx.
func sessionCtx(ctx context.Context, conn *client.Conn, id, app string) (context.Context, error) {
	var opts []client.EstablishOption
	if app != "" {
		opts = append(opts, client.Application(app))
	}
	s, err := conn.Attach(id, opts...)
	if err != nil {
		return nil, err
	}
	return s.Activate(ctx), nil
}

func apiSubmit(ctx context.Context, e *env, cmd *cobra.Command, _ []string, conn *client.Conn) error {
	fs := cmd.Flags()
	var f submitFlags
	f.jobType, _ = fs.GetString("type")
	f.session, _ = fs.GetString("session")
	f.app, _ = fs.GetString("application-id")
	f.payload, _ = fs.GetString("payload")
	f.payloadFile, _ = fs.GetString("payload-file")
	f.queue, _ = fs.GetString("queue")
	f.maxRetry, _ = fs.GetInt("max-retry")
	f.timeout, _ = fs.GetDuration("timeout")
	f.processIn, _ = fs.GetDuration("process-in")
	f.idempotency, _ = fs.GetString("idempotency-key")
	f.policy, _ = fs.GetString("policy")
	f.outOfSession, _ = fs.GetBool("out-of-session")
	f.wait, _ = fs.GetBool("wait")
	f.waitTimeout, _ = fs.GetDuration("wait-timeout")
	// --owner too: through the gateway, a key lives in the acting user's
	// namespace.
	if err := refuseFlags(cmd, "app", "owner"); err != nil {
		return err
	}
	switch {
	case f.payload != "" && f.payloadFile != "":
		return errors.New("--payload and --payload-file are mutually exclusive: give one")
	case f.waitTimeout < 0:
		return fmt.Errorf("invalid --wait-timeout %s: must not be negative", f.waitTimeout)
	case f.waitTimeout > 0 && !f.wait:
		return errors.New("--wait-timeout needs --wait")
	case fs.Changed("application-id") && !fs.Changed("session"):
		return errors.New("--application-id needs --session")
	}
	if err := f.validate(fs.Changed); err != nil {
		return err
	}
	cfg, err := e.config()
	if err != nil {
		return err
	}
	payload, err := f.readPayload(cmd.InOrStdin(), cfg.Client.MaxPayload)
	if err != nil {
		return err
	}
	opts := []client.SubmitOption{client.Queue(f.queue), client.MaxRetry(f.maxRetry),
		client.JobTimeout(f.timeout), client.FailurePolicy(f.policy)}
	if f.processIn != 0 {
		opts = append(opts, client.ProcessIn(f.processIn))
	}
	if f.idempotency != "" {
		opts = append(opts, client.IdempotencyKey(f.idempotency))
	}
	if f.outOfSession {
		opts = append(opts, client.OutOfSession())
	}
	if f.session != "" {
		if ctx, err = sessionCtx(ctx, conn, f.session, f.app); err != nil {
			return err
		}
	}
	sub, err := conn.Submit(ctx, f.jobType, payload, opts...)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(e.out, sub.ID); err != nil {
		return err
	}
	if sub.Warning != "" {
		fmt.Fprintf(e.errOut, "sessionq: warning: %s\n", sub.Warning)
	}
	if !f.wait {
		return nil
	}
	if f.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, f.waitTimeout, fmt.Errorf("job %s did not end within %s", sub.ID, f.waitTimeout))
		defer cancel()
	}
	j, err := conn.Wait(ctx, sub.ID)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		return err
	}
	switch j.State {
	case client.StateFailed:
		return fmt.Errorf("job %s failed after %d attempt(s): %s", j.ID, j.Attempts, orNone(j.LastError))
	case client.StateCancelled:
		return fmt.Errorf("job %s was cancelled", j.ID)
	}
	return nil
}

func apiJobGet(ctx context.Context, e *env, _ *cobra.Command, args []string, conn *client.Conn) error {
	j, err := conn.Job(ctx, args[0])
	if err != nil {
		return err
	}
	return e.printJSON(j)
}

func apiJobCancel(ctx context.Context, e *env, _ *cobra.Command, args []string, conn *client.Conn) error {
	st, err := conn.Cancel(ctx, args[0])
	if err != nil {
		return err
	}
	if st == client.StateRunning {
		_, err = fmt.Fprintln(e.out, "cancelling (it is running; it stops at its next lease renewal)")
		return err
	}
	_, err = fmt.Fprintln(e.out, st)
	return err
}

func apiSessionCreate(ctx context.Context, e *env, cmd *cobra.Command, _ []string, conn *client.Conn) error {
	if err := refuseFlags(cmd, "lifetime", "replace-tid"); err != nil {
		return err
	}
	fs := cmd.Flags()
	owner, _ := fs.GetString("owner")
	tid, _ := fs.GetString("tid")
	idle, _ := fs.GetDuration("idle-timeout")
	params, _ := fs.GetStringArray("param")
	kv := map[string]string{}
	for _, p := range params {
		k, v, err := sessiontable.ParseParam(p)
		if err != nil {
			return fmt.Errorf("--param: %w", err)
		}
		if _, dup := kv[k]; dup {
			return fmt.Errorf("--param %q given twice", k)
		}
		kv[k] = v
	}
	opts := []client.EstablishOption{client.Create()}
	if tid != "" {
		opts = append(opts, client.TID(tid))
	}
	if idle < 0 {
		return fmt.Errorf("invalid --idle-timeout %s: must be positive", idle)
	}
	if idle > 0 {
		opts = append(opts, client.IdleTimeout(idle))
	}
	var s *client.Session
	var err error
	if owner != "" {
		s, err = conn.LoginAs(ctx, owner, opts...) // the gateway's impersonate right
	} else {
		s, err = conn.Establish(ctx, opts...)
	}
	if err != nil {
		return err
	}
	sctx := s.Activate(ctx)
	for k, v := range kv {
		if err := conn.SetParam(sctx, k, v); err != nil {
			return err
		}
	}
	if err := conn.Flush(sctx); err != nil {
		return fmt.Errorf("session %s created, but its parameters were not set: %w", s.ID(), err)
	}
	_, err = fmt.Fprintln(e.out, s.ID())
	return err
}

func apiSessionGet(ctx context.Context, e *env, cmd *cobra.Command, args []string, conn *client.Conn) error {
	s, err := conn.Attach(args[0])
	if err != nil {
		return err
	}
	in, err := s.Info(ctx)
	if err != nil {
		return err
	}
	return e.printJSON(in)
}

func apiParamGet(ctx context.Context, e *env, cmd *cobra.Command, args []string, conn *client.Conn) error {
	app, _ := cmd.Flags().GetString("application-id")
	sctx, err := sessionCtx(ctx, conn, args[0], app)
	if err != nil {
		return err
	}
	v, err := conn.Param(sctx, args[1])
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.out, v)
	return err
}

// apiParamSet sets every parameter in one request, all or none, as the
// Redis mode does: buffered, then flushed once.
func apiParamSet(ctx context.Context, _ *env, cmd *cobra.Command, args []string, conn *client.Conn) error {
	app, _ := cmd.Flags().GetString("application-id")
	sctx, err := sessionCtx(ctx, conn, args[0], app)
	if err != nil {
		return err
	}
	for _, p := range args[1:] {
		k, v, err := sessiontable.ParseParam(p)
		if err != nil {
			return err
		}
		if err := conn.SetParam(sctx, k, v); err != nil {
			return err
		}
	}
	return conn.Flush(sctx)
}
