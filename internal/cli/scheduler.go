package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sessionq/sessionq/scheduler"
)

func newSchedulerCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the scheduler: the reconciler that repairs stuck sessions",
		Long: `Run the scheduler until SIGINT or SIGTERM.

Any number of schedulers may run: they elect a leader through a lease in
Redis, and only the leader works. Its reconciler finds sessions that cannot
move on by themselves (a worker died holding the lease, a dispatch was lost)
and dispatches their head job again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.bindFlags(cmd, schedulerFlagKeys); err != nil {
				return err
			}
			if err := e.bindFlags(cmd, map[string]string{"id": "scheduler.id"}); err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			rdb, err := openRedis(ctx, cfg.Redis.URL)
			if err != nil {
				return err
			}
			defer rdb.Close()
			sc := cfg.Scheduler.schedulerConfig()
			log := e.logger(cfg)
			sc.Logger = log
			s, err := scheduler.New(rdb, sc)
			if err != nil {
				return err
			}
			if err := s.Start(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			stop()
			s.Stop()
			log.Info("scheduler stopped")
			return nil
		},
	}
	cmd.Flags().String("id", defString("scheduler.id"), usage("scheduler ID as a leadership candidate (default host-pid-random)", "scheduler.id"))
	addSchedulerFlags(cmd.Flags())
	return cmd
}

// schedulerFlagKeys binds the scheduler flags (addSchedulerFlags) to config keys.
var schedulerFlagKeys = map[string]string{
	"interval":       "scheduler.interval",
	"dispatch-grace": "scheduler.dispatch_grace",
	"leader-term":    "scheduler.leader_term",
}

// addSchedulerFlags adds the scheduler's timing flags (not --id, which
// `sessionq dev` leaves to its worker).
func addSchedulerFlags(fs *pflag.FlagSet) {
	fs.Duration("interval", defDuration("scheduler.interval"), usage("time between reconciler passes", "scheduler.interval"))
	fs.Duration("dispatch-grace", defDuration("scheduler.dispatch_grace"), usage("how long a dispatched job may lack its queue task before it is dispatched again", "scheduler.dispatch_grace"))
	fs.Duration("leader-term", defDuration("scheduler.leader_term"), usage("leadership lease", "scheduler.leader_term"))
}
