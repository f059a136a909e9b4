package cli

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sessionq/sessionq/scheduler"
	"github.com/sessionq/sessionq/sessiontable"
)

func newSchedulerCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run a maintenance candidate that also submits periodic jobs",
		Long: `Run the scheduler until SIGINT or SIGTERM.

Every worker already takes part in the maintenance election, so a fleet of
workers needs no scheduler for repair. A scheduler is one more candidate that
does no job work: while it leads the maintenance, its reconciler finds
sessions that cannot move on by themselves (a worker died holding the lease,
a dispatch was lost) and dispatches their head job again, and it runs the
session expiry sweep. Schedulers also elect a leader among themselves for
the periodic jobs of scheduler.periodic in the config file, each tick
submitted once (see sessionq schedule list).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.bindFlags(cmd, schedulerFlagKeys); err != nil {
				return err
			}
			if err := e.bindFlags(cmd, schedulerOnlyFlagKeys); err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			cn, err := e.connect(cmd, cfg)
			if err != nil {
				return err
			}
			defer cn.close()
			ctx, stop, rdb := cn.ctx, cn.stop, cn.rdb
			sc := cfg.Scheduler.schedulerConfig()
			log := e.logger(cfg)
			sc.Logger = log
			tbl, _, err := e.sessionTable(rdb)
			if err != nil {
				return err
			}
			if sc.Tasks, err = sweepTasks(tbl); err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			sc.Registerer = reg
			if err := countRedisErrors(reg, rdb); err != nil {
				return err
			}
			if err := fleetMetrics(reg, rdb); err != nil {
				return err
			}
			s, err := scheduler.New(rdb, sc)
			if err != nil {
				return err
			}
			stopMetrics, err := serveMetrics(ctx, cfg.Scheduler.MetricsAddr, reg, rdb)
			if err != nil {
				return err
			}
			defer stopMetrics()
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
	cmd.Flags().String("metrics-addr", defString("scheduler.metrics_addr"), usage("serve /metrics, /healthz and /readyz on this address, e.g. :9091", "scheduler.metrics_addr"))
	addSchedulerFlags(cmd.Flags())
	return cmd
}

// schedulerFlagKeys binds the scheduler flags (addSchedulerFlags) to config keys.
var schedulerFlagKeys = map[string]string{
	"interval":       "scheduler.interval",
	"dispatch-grace": "scheduler.dispatch_grace",
	"leader-term":    "scheduler.leader_term",
}

// schedulerOnlyFlagKeys are the flags of `sessionq scheduler` that
// `sessionq dev` does not have.
var schedulerOnlyFlagKeys = map[string]string{
	"id":           "scheduler.id",
	"metrics-addr": "scheduler.metrics_addr",
}

// addSchedulerFlags adds the scheduler's timing flags (not --id, which
// `sessionq dev` leaves to its worker).
func addSchedulerFlags(fs *pflag.FlagSet) {
	fs.Duration("interval", defDuration("scheduler.interval"), usage("time between reconciler passes", "scheduler.interval"))
	fs.Duration("dispatch-grace", defDuration("scheduler.dispatch_grace"), usage("how long a dispatched job may lack its queue task before it is dispatched again", "scheduler.dispatch_grace"))
	fs.Duration("leader-term", defDuration("scheduler.leader_term"), usage("leadership lease", "scheduler.leader_term"))
}

// sweepTasks are the scheduler's periodic tasks for the session table: the
// expiry sweep.
func sweepTasks(tbl *sessiontable.Table) ([]scheduler.Task, error) {
	sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
	if err != nil {
		return nil, err
	}
	return []scheduler.Task{{Name: "session-sweep", Run: sw.Run}}, nil
}
