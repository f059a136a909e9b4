package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/scheduler"
)

func newScheduleCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Show the periodic jobs of the scheduler",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newScheduleListCmd(e))
	return cmd
}

func newScheduleListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the periodic jobs: schedule, next tick, last fire",
		Long: `List the periodic jobs configured under scheduler.periodic in sessionq.yaml,
with their next tick and their last fire as recorded in Redis by the leading
scheduler. Times are UTC.`,
		Example: `  sessionq schedule list --config sessionq.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, err := cmd.Flags().GetBool("json")
			if err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			rdb, err := openRedis(cmd.Context(), cfg.Redis)
			if err != nil {
				return err
			}
			defer rdb.Close()
			list, err := scheduler.ListPeriodic(cmd.Context(), rdb, cfg.Scheduler.periodic(), time.Now())
			if err != nil {
				return err
			}
			out := make([]periodicView, len(list))
			for i, p := range list {
				out[i] = periodicView(p)
			}
			if len(list) == 0 && !asJSON {
				fmt.Fprintln(e.errOut, "no periodic jobs configured (scheduler.periodic in sessionq.yaml)")
			}
			return writeList(e.out, asJSON, out, "NAME\tSCHEDULE\tTYPE\tQUEUE\tSESSION\tNEXT\tLAST FIRE\tLAST JOB",
				func(w io.Writer, p periodicView) {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Schedule, p.Type, p.Queue, dash(p.Session),
						stamp(p.Next), stamp(p.LastFire), dash(p.LastJob))
				})
		},
	}
	jsonFlag(cmd, "periodic job")
	return cmd
}

// stamp is t in UTC to the second, or "-" when zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// periodicView is a periodic job as schedule list --json prints it
// (camelCase).
type periodicView struct {
	Name     string    `json:"name"`
	Schedule string    `json:"schedule"`
	Type     string    `json:"type"`
	Session  string    `json:"session,omitempty"`
	Queue    string    `json:"queue"`
	Next     time.Time `json:"next"`
	LastTick time.Time `json:"lastTick,omitzero"`
	LastJob  string    `json:"lastJob,omitempty"`
	LastFire time.Time `json:"lastFire,omitzero"`
}
