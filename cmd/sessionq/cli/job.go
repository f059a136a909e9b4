package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/jobs"
)

func newJobCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "List, inspect, cancel, retry and delete jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newJobGetCmd(e), newJobCancelCmd(e), newJobDeadCmd(e),
		newJobListCmd(e), newJobRetryCmd(e), newJobDeleteCmd(e))
	return cmd
}

// jobsClient opens Redis and a jobs client on it; close both with the
// returned function.
func (e *env) jobsClient(cmd *cobra.Command) (*jobs.Client, func(), error) {
	c, _, done, err := e.jobsRedis(cmd)
	return c, done, err
}

// jobsRedis is jobsClient, with its Redis client.
func (e *env) jobsRedis(cmd *cobra.Command) (*jobs.Client, redis.UniversalClient, func(), error) {
	cfg, err := e.config()
	if err != nil {
		return nil, nil, nil, err
	}
	rdb, err := openRedis(cmd.Context(), cfg.Redis)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := e.newJobsClient(rdb, cfg)
	if err != nil {
		_ = rdb.Close()
		return nil, nil, nil, err
	}
	return c, rdb, func() { _ = c.Close(); _ = rdb.Close() }, nil
}

// apiJobs are infos as the wire contract shows them (api.Job), each with
// the user it was submitted as through the gateway, as the gateway shows
// them: `job get --json` prints the same object with or without --api.
func apiJobs(ctx context.Context, rdb redis.UniversalClient, infos []*jobs.Info) ([]api.Job, error) {
	p := rdb.Pipeline()
	owners := make([]*redis.StringCmd, len(infos))
	for i, in := range infos {
		// The gateway's record of a job's submitter: its field "owner".
		owners[i] = p.HGet(ctx, keys.GatewayJob(in.ID), "owner")
	}
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading the jobs' owners: %w", err)
	}
	out := make([]api.Job, len(infos))
	for i, in := range infos {
		out[i] = in.API()
		out[i].Owner = owners[i].Val()
	}
	return out, nil
}

func oneJobID(name string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("job %s takes one job ID, got %d arguments", name, len(args))
		}
		return jobs.ValidateJobID(args[0])
	}
}

func newJobCancelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job",
		Long: `Cancel a job. A waiting job (parked, pending, retrying) ends cancelled at
once and its session goes on. A running session job is cancelled at its
worker's next lease renewal: its handler's context is cancelled (an exec
command is killed) and it ends cancelled. A running job without a session
has its handler's context cancelled at once (an exec command is killed) and
is deleted so that it is not retried; when its worker does not answer within
5s (it died), the command fails and may be run again. Prints the job's state
after the call.`,
		Args: oneJobID("cancel"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := e.jobsClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			st, err := c.Cancel(cmd.Context(), args[0])
			if errors.Is(err, jobs.ErrNotFound) {
				return fmt.Errorf("job %s not found (never submitted, or its record outlived its retention)", args[0])
			}
			if err != nil {
				return err
			}
			if st == jobs.StateRunning {
				_, err = fmt.Fprintln(e.out, "cancelling (it is running; it stops at its next lease renewal)")
				return err
			}
			_, err = fmt.Fprintln(e.out, st)
			return err
		},
	}
}

func newJobDeadCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dead",
		Short: "List dead-lettered (failed) jobs, newest first",
		Long: `List dead-lettered (failed) jobs, newest first, as a table (or JSON Lines
with --json, one job per line as job get prints it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			limit, err := cmd.Flags().GetInt("limit")
			if err != nil {
				return err
			}
			if limit < 1 {
				return fmt.Errorf("--limit %d: want 1 or more", limit)
			}
			asJSON, err := cmd.Flags().GetBool("json")
			if err != nil {
				return err
			}
			c, rdb, done, err := e.jobsRedis(cmd)
			if err != nil {
				return err
			}
			defer done()
			dead, err := c.DeadLetters(cmd.Context(), limit)
			if err != nil {
				return err
			}
			list, err := apiJobs(cmd.Context(), rdb, dead)
			if err != nil {
				return err
			}
			return writeList(e.out, asJSON, list, "ID\tQUEUE\tTYPE\tSESSION\tATTEMPTS\tFINISHED\tLAST ERROR",
				func(w io.Writer, j api.Job) {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", j.ID, j.Queue, j.Type, dash(j.SessionID), j.Attempts,
						stamp(j.Finished), dash(oneLine(j.LastError)))
				})
		},
	}
	cmd.Flags().Int("limit", 100, "most jobs to list")
	jsonFlag(cmd, "job")
	return cmd
}

// oneLine is s cut at its first line break and to 60 runes, for a table
// cell.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i] + "..."
	}
	if r := []rune(s); len(r) > 60 {
		s = string(r[:57]) + "..."
	}
	return s
}

func newJobGetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Print a job as JSON",
		Long: `Print a job as JSON, the same object with or without --api (the gateway's
job, camelCase): its state (pending, parked, waiting_for_handler, running,
retrying, succeeded, failed, cancelled), sessionId, seq, attempts, lastError,
payload and result (a JSON object or array as itself, other text as a
string; payloadBase64 and resultBase64 when not UTF-8), and times; only the
fields of its state.`,
		Example: `  sessionq job get jabcdefghijklmnopqrstuvwxyz
  sessionq job get "$(sessionq submit --type echo --payload hi)"`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("job get takes one job ID, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := jobs.ValidateJobID(id); err != nil {
				return err
			}
			c, rdb, done, err := e.jobsRedis(cmd)
			if err != nil {
				return err
			}
			defer done()
			in, err := c.Get(cmd.Context(), id)
			if errors.Is(err, jobs.ErrNotFound) {
				return fmt.Errorf("job %s not found (never submitted, or its record outlived its retention)", id)
			}
			if err != nil {
				return err
			}
			j, err := apiJobs(cmd.Context(), rdb, []*jobs.Info{in})
			if err != nil {
				return err
			}
			return e.printJSON(j[0])
		},
	}
}
