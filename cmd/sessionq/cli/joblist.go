package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/jobs"
)

func newJobListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, filtered and paged",
		Long: `List jobs as a table (or JSON Lines with --json): first the unfinished
session jobs (each session in submission order), then dead-lettered session
jobs (newest first), then jobs without a session per queue: running, pending,
scheduled, retrying, failed, succeeded.

--state takes pending, scheduled, parked, running, retrying,
waiting_for_handler (ready, but no live worker handles its type),
succeeded, failed, cancelled, or the asynq/BullMQ names active, waiting,
delayed, completed, archived, dead. Finished session jobs other than failed ones are
not listed (nothing indexes them): read them with job get ID. Page n reads
the n*limit first matching jobs.`,
		Example: `  sessionq job list --state failed
  sessionq job list --session report-42
  sessionq job list --queue critical --state pending --limit 20 --page 2 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			var o jobs.ListOptions
			var err error
			get := func(name string, dst *string) {
				if err == nil {
					*dst, err = f.GetString(name)
				}
			}
			get("queue", &o.Queue)
			get("state", &o.State)
			get("session", &o.Session)
			get("type", &o.Type)
			if err != nil {
				return err
			}
			if o.Limit, err = f.GetInt("limit"); err != nil {
				return err
			}
			if o.Page, err = f.GetInt("page"); err != nil {
				return err
			}
			if o.Limit < 1 || o.Page < 1 {
				return fmt.Errorf("--limit %d --page %d: want 1 or more each", o.Limit, o.Page)
			}
			if f.Changed("session") && o.Session == "" {
				return errors.New("--session is empty: give a session ID")
			}
			asJSON, err := f.GetBool("json")
			if err != nil {
				return err
			}
			c, rdb, done, err := e.jobsRedis(cmd)
			if err != nil {
				return err
			}
			defer done()
			infos, err := c.List(cmd.Context(), o)
			if err != nil {
				return err
			}
			list, err := apiJobs(cmd.Context(), rdb, infos)
			if err != nil {
				return err
			}
			return writeList(e.out, asJSON, list, "ID\tSTATE\tQUEUE\tTYPE\tSESSION\tSEQ\tATTEMPTS", func(w io.Writer, j api.Job) {
				seq := "-"
				if j.SessionID != "" {
					seq = strconv.FormatInt(j.Seq, 10)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", j.ID, j.State, j.Queue, j.Type, dash(j.SessionID), seq, j.Attempts)
			})
		},
	}
	f := cmd.Flags()
	f.String("queue", "", "only jobs of this queue")
	f.String("state", "", "only jobs in this state")
	f.String("session", "", "only jobs of this session")
	f.String("type", "", "only jobs of this type")
	f.Int("limit", jobs.DefaultListLimit, fmt.Sprintf("jobs per page (at most %d)", jobs.MaxListLimit))
	f.Int("page", 1, "page number, from 1")
	f.Bool("json", false, "print JSON Lines, one job per line as job get prints it (default: a table)")
	return cmd
}

func newJobRetryCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "retry ID",
		Short: "Run a dead-lettered (failed) job again",
		Long: `Run a dead-lettered (failed) job again: a job without a session goes back to
its queue as pending. Requeueing a failed session job is not available yet.
A job that is not dead-lettered is refused. Prints the job's new state.`,
		Example: `  sessionq job retry jabcdefghijklmnopqrstuvwxyz`,
		Args:    oneJobID("retry"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := e.jobsClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			st, err := c.Retry(cmd.Context(), args[0])
			if err != nil {
				return jobError(args[0], err)
			}
			_, err = fmt.Fprintln(e.out, st)
			return err
		},
	}
}

func newJobDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a dead-lettered (failed) job for good",
		Long: `Delete a dead-lettered (failed) job: its record and its dead-letter entry.
A job that is not dead-lettered is refused (cancel a waiting job instead).`,
		Example: `  sessionq job delete jabcdefghijklmnopqrstuvwxyz`,
		Args:    oneJobID("delete"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := e.jobsClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := c.Delete(cmd.Context(), args[0]); err != nil {
				return jobError(args[0], err)
			}
			_, err = fmt.Fprintln(e.out, "deleted")
			return err
		},
	}
}

// jobError says what a failed job command means to its user.
func jobError(id string, err error) error {
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return fmt.Errorf("job %s not found (never submitted, or its record outlived its retention)", id)
	case errors.Is(err, jobs.ErrNotDead):
		return fmt.Errorf("%w; only dead-lettered (failed) jobs can be retried or deleted", err)
	}
	return err
}
