package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/jobs"
)

// Polling of `submit --wait`: it starts fast for short jobs and slows down
// for long ones.
const (
	waitPollFirst = 50 * time.Millisecond
	waitPollMax   = time.Second
)

type submitFlags struct {
	jobType      string
	session      string
	app          string
	payload      string
	payloadFile  string
	queue        string
	maxRetry     int
	timeout      time.Duration
	processIn    time.Duration
	idempotency  string
	owner        string
	policy       string
	outOfSession bool
	maxBacklog   int
	wait         bool
	waitTimeout  time.Duration
}

func newSubmitCmd(e *env) *cobra.Command {
	var f submitFlags
	cmd := &cobra.Command{
		Use:   "submit --type TYPE [--session ID] [--payload STRING | --payload-file FILE]",
		Short: "Submit a job and print its ID",
		Long: `Submit a job and print its ID alone on standard output.

Jobs with the same --session run one at a time, in the order they were
submitted, across every worker. The session ID need not name a session in the
session table: the job then runs inactive, still in order.

With --idempotency-key, submitting again gives back the same job. The key
lives in the namespace of --owner (the default one without), and is bound to
its first submit's session (or none), queue and type: a reuse that asks for
another is an idempotency key conflict and submits nothing.

With --wait, submit waits until the job ended and exits non-zero unless it
succeeded.`,
		Example: `  sessionq submit --type doc.render --session user-42 --payload '{"doc":"a.pdf"}'
  sessionq submit --type doc.render --payload-file job.json --wait --wait-timeout 2m
  ID=$(sessionq submit --type echo --payload hi) && sessionq job get "$ID"
  sessionq submit --type invoice.send --idempotency-key invoice-2026-001 --owner billing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSubmit(cmd, e, &f) },
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.jobType, "type", "t", "", "job type (required)")
	fs.StringVarP(&f.session, "session", "s", "", "session ID: jobs of one session run one at a time, in order")
	fs.StringVarP(&f.app, "application-id", "a", "", "application sub-session ID (needs --session): the job sees its parameters, falling back to the session's")
	fs.StringVar(&f.app, "app", "", "same as --application-id")
	_ = fs.MarkDeprecated("app", "use --application-id (or -a)")
	fs.StringVarP(&f.payload, "payload", "p", "", "payload")
	fs.StringVarP(&f.payloadFile, "payload-file", "f", "", `read the payload from a file ("-": standard input)`)
	fs.StringVarP(&f.queue, "queue", "q", jobs.DefaultQueue, "queue")
	fs.IntVar(&f.maxRetry, "max-retry", jobs.DefaultMaxRetry, "retries after a failure")
	fs.IntVar(&f.maxBacklog, "max-backlog", 0, "refuse the job when its session holds this many unfinished jobs (default session.max_backlog; 0: that)")
	fs.DurationVar(&f.timeout, "timeout", jobs.DefaultTimeout, "time limit of one run")
	fs.DurationVar(&f.processIn, "process-in", 0, "run no sooner than this from now (a session job holds its place)")
	fs.StringVar(&f.idempotency, "idempotency-key", "", "submitting twice with the same key gives the same job; the key is bound to its first submit's session (or none), queue and type")
	fs.StringVar(&f.owner, "owner", "", "namespace of --idempotency-key: another owner's key of the same name is another job (default: the default namespace; a gateway user's name is theirs)")
	fs.StringVar(&f.policy, "policy", string(jobs.PolicyBlock), "on failure of a session job: block (retry in place) or skip (dead-letter, session goes on)")
	fs.BoolVar(&f.outOfSession, "out-of-session", false, "do not refresh the session's inactivity timer")
	fs.BoolVarP(&f.wait, "wait", "w", false, "wait until the job ended; exit non-zero unless it succeeded")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", 0, "with --wait: give up after this long (0: no limit)")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

func runSubmit(cmd *cobra.Command, e *env, f *submitFlags) error {
	if f.payload != "" && f.payloadFile != "" {
		return errors.New("--payload and --payload-file are mutually exclusive: give one")
	}
	if f.waitTimeout < 0 {
		return fmt.Errorf("invalid --wait-timeout %s: must not be negative", f.waitTimeout)
	}
	if f.waitTimeout > 0 && !f.wait {
		return errors.New("--wait-timeout needs --wait")
	}
	cfg, err := e.config()
	if err != nil {
		return err
	}
	given := cmd.Flags().Changed
	opts, err := f.options(given)
	if err != nil {
		return err
	}
	// Cheap checks first, so that bad input is reported as such even when
	// Redis is down; Submit checks everything again.
	if err := f.validate(given); err != nil {
		return err
	}
	payload, err := f.readPayload(cmd.InOrStdin(), cfg.Client.MaxPayload)
	if err != nil {
		return err
	}
	cn, err := e.connect(cmd, cfg)
	if err != nil {
		return err
	}
	defer cn.close()
	ctx, rdb := cn.ctx, cn.rdb
	c, err := e.newJobsClient(rdb, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	sub, err := c.Submit(ctx, f.jobType, payload, opts...)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(e.out, sub.ID); err != nil {
		return err
	}
	warnUnhandled(ctx, e.errOut, rdb, f.jobType)
	if !f.wait {
		return nil
	}
	return waitJob(ctx, c, sub.ID, f.waitTimeout, func() {
		if unhandled(ctx, rdb, f.jobType) {
			fmt.Fprintf(e.errOut, "sessionq: still waiting for job %s: no live worker handles job type %q\n", sub.ID, f.jobType)
		}
	})
}

// options are the submit options of the flags. A flag given with an empty
// value is passed on, so that it is refused rather than read as absent.
func (f *submitFlags) options(given func(string) bool) ([]jobs.Option, error) {
	var opts []jobs.Option
	if given("session") {
		opts = append(opts, jobs.Session(f.session))
	}
	if given("application-id") || given("app") {
		opts = append(opts, jobs.Application(f.app))
	}
	if given("idempotency-key") {
		opts = append(opts, jobs.IdempotencyKey(f.idempotency))
	}
	if given("owner") {
		opts = append(opts, jobs.Owner(f.owner))
	}
	if f.processIn != 0 {
		opts = append(opts, jobs.ProcessIn(f.processIn))
	}
	if f.outOfSession {
		opts = append(opts, jobs.OutOfSession())
	}
	if given("max-backlog") {
		if f.maxBacklog < 1 {
			return nil, fmt.Errorf("invalid --max-backlog %d: must be 1 or more (omit it for session.max_backlog)", f.maxBacklog)
		}
		opts = append(opts, jobs.MaxBacklog(f.maxBacklog))
	}
	p := jobs.Policy(f.policy)
	if p != jobs.PolicyBlock && p != jobs.PolicySkip {
		return nil, fmt.Errorf("invalid --policy %q: want block or skip", f.policy)
	}
	return append(opts,
		jobs.Queue(f.queue), jobs.MaxRetry(f.maxRetry), jobs.Timeout(f.timeout), jobs.FailurePolicy(p),
	), nil
}

// validate checks the names given, before anything is read or dialled. A
// flag given empty is an error, not a default.
func (f *submitFlags) validate(given func(string) bool) error {
	checks := []struct {
		given bool
		val   string
		check func(string) error
		hint  string
	}{
		{given("session"), f.session, jobs.ValidateSessionID, " (omit --session to submit a job without a session)"},
		{given("application-id") || given("app"), f.app, jobs.ValidateApplicationID, ""},
		{given("idempotency-key"), f.idempotency, jobs.ValidateJobID, ""},
		{given("owner"), f.owner, validateOwner, " (omit --owner for the default namespace)"},
	}
	if err := jobs.ValidateType(f.jobType); err != nil {
		return err
	}
	if err := jobs.ValidateQueue(f.queue); err != nil {
		return err
	}
	if given("owner") && !given("idempotency-key") {
		return errors.New("--owner needs --idempotency-key: it names the key's namespace")
	}
	for _, c := range checks {
		if !c.given {
			continue
		}
		if err := c.check(c.val); err != nil {
			if strings.TrimSpace(c.val) == "" {
				return fmt.Errorf("%w%s", err, c.hint)
			}
			return err
		}
	}
	return nil
}

// validateOwner checks the name of an idempotency key's namespace: given,
// it must not be empty (jobs.Owner("") is the default namespace).
func validateOwner(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("invalid --owner %q: must not be empty", s)
	}
	return nil
}

// readPayload reads the payload, refusing one over limit bytes without
// reading more than limit+1 of it.
func (f *submitFlags) readPayload(stdin io.Reader, limit int) ([]byte, error) {
	var p []byte
	switch f.payloadFile {
	case "":
		p = []byte(f.payload)
	case "-":
		b, err := io.ReadAll(io.LimitReader(stdin, int64(limit)+1))
		if err != nil {
			return nil, fmt.Errorf("reading payload from standard input: %w", err)
		}
		p = b
	default:
		fh, err := os.Open(f.payloadFile)
		if err != nil {
			return nil, fmt.Errorf("reading payload: %w", err)
		}
		defer fh.Close()
		b, err := io.ReadAll(io.LimitReader(fh, int64(limit)+1))
		if err != nil {
			return nil, fmt.Errorf("reading payload file %s: %w", f.payloadFile, err)
		}
		p = b
	}
	if len(p) > limit {
		return nil, fmt.Errorf("payload too large: more than %d bytes (client.max_payload)", limit)
	}
	return p, nil
}

// waitJob polls job id until it ended, and returns an error unless it
// succeeded. timeout 0 waits as long as ctx lasts. stillWaiting is called
// once, stillWaitingAfter from the start, if the job has not started yet.
func waitJob(ctx context.Context, c *jobs.Client, id string, timeout time.Duration, stillWaiting func()) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("job %s did not end within %s", id, timeout))
		defer cancel()
	}
	poll := time.NewTimer(0)
	defer poll.Stop()
	hint := time.NewTimer(stillWaitingAfter)
	defer hint.Stop()
	every := waitPollFirst
	last := jobs.State("")
	for {
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return fmt.Errorf("%w (last state: %s)", cause, last)
			}
			return fmt.Errorf("interrupted while waiting for job %s (last state: %s)", id, last)
		case <-hint.C:
			if last != jobs.StateRunning {
				stillWaiting()
			}
			continue
		case <-poll.C:
		}
		in, err := c.Get(ctx, id)
		switch {
		case err != nil && ctx.Err() != nil:
			continue // reported by the select above
		case err != nil:
			return fmt.Errorf("waiting for job %s: %w", id, err)
		}
		last = in.State
		switch in.State {
		case jobs.StateSucceeded:
			return nil
		case jobs.StateFailed:
			return fmt.Errorf("job %s failed after %d attempt(s): %s", id, in.Attempts, orNone(in.LastError))
		case jobs.StateCancelled:
			return fmt.Errorf("job %s was cancelled", id)
		}
		poll.Reset(every)
		every = min(every*3/2, waitPollMax)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(no error text)"
	}
	return s
}
