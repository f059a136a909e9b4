package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/api"
	"github.com/sessionq/sessionq/jobs"
)

// sessionJob is a job of a session's backlog as session jobs --json prints
// it: the job as job get prints it, and the worker of its last run.
type sessionJob struct {
	api.Job
	Worker string `json:"worker,omitempty"`
}

// newJobsClient is a jobs client on rdb as configured: the client section,
// and the session section's max_backlog.
func (e *env) newJobsClient(rdb redis.UniversalClient, cfg *Config) (*jobs.Client, error) {
	jc := cfg.Client.jobsConfig()
	sc, err := e.sessionConfig()
	if err != nil {
		return nil, err
	}
	jc.MaxBacklog = sc.MaxBacklog
	return jobs.NewClient(rdb, jc)
}

func newSessionJobsCmd(e *env) *cobra.Command {
	var offset, limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "jobs ID",
		Short: "List a session's backlog in order: seq, job, type, state, attempts, worker",
		Long: `List the unfinished jobs of a session in order, the head first: its sequence
number, job ID, type, state (running, pending, retrying, parked), attempts and
the worker of its last run, as a table (or JSON Lines with --json). The
backlog's length goes to standard error. Works for any session ID, with or
without a session record.`,
		Example: `  sessionq session jobs report-42
  sessionq session jobs report-42 --offset 100 --limit 100 --json`,
		Args: exactArgs("session jobs", "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, rdb, done, err := e.jobsRedis(cmd)
			if err != nil {
				return err
			}
			defer done()
			infos, n, err := c.SessionJobs(cmd.Context(), args[0], offset, limit)
			if err != nil {
				return err
			}
			js, err := apiJobs(cmd.Context(), rdb, infos)
			if err != nil {
				return err
			}
			list := make([]sessionJob, len(js))
			for i, j := range js {
				list[i] = sessionJob{Job: j, Worker: infos[i].Worker}
			}
			err = writeList(e.out, asJSON, list, "SEQ\tJOB\tTYPE\tSTATE\tATTEMPTS\tWORKER", func(w io.Writer, j sessionJob) {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\n", j.Seq, j.ID, j.Type, j.State, j.Attempts, dash(j.Worker))
			})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.errOut, "%d unfinished jobs in session %s\n", n, args[0])
			return err
		},
	}
	cmd.Flags().IntVar(&offset, "offset", 0, "skip this many jobs from the head")
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many jobs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines, one job per line as job get prints it, with its worker (default: a table)")
	return cmd
}

func newSessionPauseCmd(e *env, pause bool) *cobra.Command {
	use, short, long := "pause ID", "Pause a session: it starts no new job until resumed",
		`Pause a session: it starts no new job (the job running now finishes) until
"session resume". Jobs submitted meanwhile wait in order. Works for any session
ID, with or without a session record; the pause lasts until resumed.`
	if !pause {
		use, short, long = "resume ID", "Resume a paused session: its next job is dispatched",
			`Resume a paused session: its head job is dispatched again, and its jobs run
in order as before.`
	}
	return &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: exactArgs("session "+strings.Fields(use)[0], "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := e.jobsClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			if pause {
				err = c.PauseSession(cmd.Context(), args[0])
			} else {
				err = c.ResumeSession(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			word := "paused"
			if !pause {
				word = "resumed"
			}
			_, err = fmt.Fprintln(e.out, word)
			return err
		},
	}
}

func newSessionSkipCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "skip ID",
		Short: "Dead-letter the blocked head job of a session, so that the session goes on",
		Long: `Dead-letter the head job of a session on purpose: under policy block a
failing job stays at the head of its session, retried, while the jobs behind it
wait. skip ends it failed (it enters the dead letters, "job retry" can requeue
it) and dispatches the next job. A head that is running is not skipped: cancel
it instead. Prints the skipped job's ID.`,
		Args: exactArgs("session skip", "a session ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := e.jobsClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			id, err := c.SkipHead(ctx, args[0])
			switch {
			case errors.Is(err, jobs.ErrRunning):
				return fmt.Errorf("the head job %s of session %s is running: cancel it instead (sessionq job cancel %s)", id, args[0], id)
			case errors.Is(err, jobs.ErrNotHead):
				return fmt.Errorf("session %s has no job to skip (or its head moved on meanwhile)", args[0])
			case err != nil:
				return err
			}
			_, err = fmt.Fprintln(e.out, id)
			return err
		},
	}
}
