package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

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
	cfg, err := e.config()
	if err != nil {
		return nil, nil, err
	}
	rdb, err := openRedis(cmd.Context(), cfg.Redis)
	if err != nil {
		return nil, nil, err
	}
	c, err := e.newJobsClient(rdb, cfg)
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return c, func() { _ = c.Close(); _ = rdb.Close() }, nil
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
		Short: "List dead-lettered (failed) jobs as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			limit, err := cmd.Flags().GetInt("limit")
			if err != nil {
				return err
			}
			if limit < 1 {
				return fmt.Errorf("--limit %d: want 1 or more", limit)
			}
			c, done, err := e.jobsClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			dead, err := c.DeadLetters(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return writeJSONLines(e.out, dead)
		},
	}
	cmd.Flags().Int("limit", 100, "most jobs to list")
	return cmd
}

func newJobGetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Print a job as JSON",
		Long: `Print a job as JSON: its state (pending, parked, running, retrying,
succeeded, failed, cancelled), session, sequence number, attempts, last error,
payload and result (text, or {"base64": ...} when not UTF-8), and times.`,
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
			c, done, err := e.jobsClient(cmd)
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
			b, err := json.MarshalIndent(in, "", "  ")
			if err != nil {
				return fmt.Errorf("encoding job %s: %w", id, err)
			}
			_, err = fmt.Fprintf(e.out, "%s\n", b)
			return err
		},
	}
}
