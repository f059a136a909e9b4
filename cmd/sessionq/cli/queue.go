package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/jobs"
)

func newQueueCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List, pause and resume queues",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newQueueListCmd(e), newQueuePauseCmd(e, true), newQueuePauseCmd(e, false))
	return cmd
}

func newQueueListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List queues with their jobs by state",
		Long: `List every queue that holds or held jobs: paused or not, its depth (jobs
waiting: pending + scheduled + retrying + parked) and its jobs by state.
PENDING, SCHEDULED, RETRYING and RUNNING count queue tasks, a dispatched
session job included; PARKED counts session jobs waiting for their turn;
DEAD counts failed jobs. PROCESSED, SUCCEEDED, FAILED and CANCELLED count
the jobs, plain and session, that ended today (UTC), by how they ended
(sessionq's counters, not asynq's: see the README, "Operating it").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := cmd.Flags().GetBool("json")
			if err != nil {
				return err
			}
			c, done, err := e.jobsClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			qs, err := c.Queues(cmd.Context())
			if err != nil {
				return err
			}
			return writeList(e.out, asJSON, qs, "QUEUE\tPAUSED\tDEPTH\tPENDING\tSCHEDULED\tRETRYING\tRUNNING\tPARKED\tDEAD\tPROCESSED\tSUCCEEDED\tFAILED\tCANCELLED",
				func(w io.Writer, q jobs.QueueInfo) {
					fmt.Fprintf(w, "%s\t%t\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", q.Name, q.Paused, q.Depth(),
						q.Pending, q.Scheduled, q.Retrying, q.Running, q.Parked, q.Dead, q.Processed, q.Succeeded, q.Failed, q.Cancelled)
				})
		},
	}
	jsonFlag(cmd, "queue")
	return cmd
}

func newQueuePauseCmd(e *env, pause bool) *cobra.Command {
	use, short, long := "resume QUEUE", "Let workers take jobs of a queue again", `Let workers take jobs of a paused queue again. Resuming a queue that is not
paused changes nothing.`
	if pause {
		use, short, long = "pause QUEUE", "Stop workers from taking jobs of a queue", `Stop workers from taking jobs of a queue: running jobs finish, the others
wait, session jobs included (and the jobs of their sessions behind them),
until the queue is resumed. Pausing a paused queue changes nothing; a queue
with no job yet may be paused.`
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("queue %s takes one queue name, got %d arguments", use[:len(use)-len(" QUEUE")], len(args))
			}
			return jobs.ValidateQueue(args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, err := e.jobsClient(cmd)
			if err != nil {
				return err
			}
			defer done()
			word := "resumed"
			if pause {
				err, word = c.PauseQueue(cmd.Context(), args[0]), "paused"
			} else {
				err = c.ResumeQueue(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.out, word)
			return err
		},
	}
}
