package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

func newWorkerCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker: N slots taking jobs from the queues",
		Long: `Run a worker process with N slots that takes jobs from the queues.

Job types are handled by commands given with --exec TYPE=COMMAND (repeatable):
the command runs once per job with the payload on its standard input and
SESSIONQ_JOB_ID, SESSIONQ_SESSION_ID, ... in its environment; exit status 0
is success and its standard output becomes the job's result. The command line
is split like a shell would but no shell runs it (write sh -c '...' for one).
Handlers are configured on the worker only, never by a job's payload. The
worker refuses to start when a command's program is not found (in PATH, or
as a path, relative to --exec-dir) or not executable, or when --exec-dir is
not a directory.

Every worker takes part in the maintenance election: while it leads, it
repairs sessions left stuck by a crashed worker or a lost dispatch, and runs
the session table's expiry sweep. A fleet of workers needs no other process.

SIGINT or SIGTERM stops taking jobs and lets running ones finish for
--shutdown-grace, then hands the rest back to run elsewhere; a second signal
exits at once.`,
		Example: `  sessionq worker --concurrency 8 --exec 'doc.render=/usr/local/bin/render --format pdf'
  SESSIONQ_WORKER_CONCURRENCY=8 sessionq worker --exec 'echo=cat'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.bindFlags(cmd, workerFlagKeys); err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			// A worker whose commands cannot run would take jobs only to
			// fail them: it refuses to start, before it connects.
			if err := cfg.Worker.checkExec(); err != nil {
				return err
			}
			cn, err := e.connect(cmd, cfg)
			if err != nil {
				return err
			}
			defer cn.close()
			ctx, stop, rdb := cn.ctx, cn.stop, cn.rdb
			log := e.logger(cfg)
			tbl, _, err := e.sessionTable(rdb)
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			if err := countRedisErrors(reg, rdb); err != nil {
				return err
			}
			w, types, err := newWorker(rdb, cfg.Worker, log, nil, reg, tbl)
			if err != nil {
				return err
			}
			stopMetrics, err := serveMetrics(ctx, cfg.Worker.MetricsAddr, reg, rdb)
			if err != nil {
				return err
			}
			defer stopMetrics()
			if len(types) == 0 {
				// A worker without handlers would take jobs only to fail them.
				return errors.New("no job handlers: give at least one --exec TYPE=COMMAND (or worker.exec in the config file)")
			}
			if err := w.Start(ctx); err != nil {
				return err
			}
			defer w.Stop()
			sayWhatItDoes(log, w.ID(), cfg.Worker, types)
			<-ctx.Done()
			stop() // a second signal ends the process at once
			return nil
		},
	}
	addWorkerFlags(cmd.Flags())
	return cmd
}

// workerFlagKeys binds the worker flags (addWorkerFlags) to config keys.
var workerFlagKeys = map[string]string{
	"id":              "worker.id",
	"concurrency":     "worker.concurrency",
	"queues":          "worker.queues",
	"strict-priority": "worker.strict_priority",
	"lease":           "worker.lease",
	"shutdown-grace":  "worker.shutdown_grace",
	"exec":            "worker.exec",
	"exec-max-output": "worker.exec_max_output",
	"metrics-addr":    "worker.metrics_addr",
	"exec-dir":        "worker.exec_dir",
	"exec-stderr-log": "worker.exec_stderr_log",
	"repair-interval": "worker.repair_interval",
	"no-repair":       "worker.no_repair",
	"no-batch":        "worker.no_batch",
	"retention":       "worker.retention",
}

func addWorkerFlags(fs *pflag.FlagSet) {
	fs.String("metrics-addr", defString("worker.metrics_addr"), usage("serve /metrics, /healthz and /readyz on this address, e.g. :9090", "worker.metrics_addr"))
	fs.String("id", defString("worker.id"), usage("worker ID in leases and logs (default host-pid-random)", "worker.id"))
	fs.IntP("concurrency", "c", defInt("worker.concurrency"), usage("number of slots (jobs run at once)", "worker.concurrency"))
	fs.StringSlice("queues", defStrings("worker.queues"), usage("queues to serve, comma-separated, each NAME or NAME:WEIGHT (e.g. critical:6,default:3,low:1)", "worker.queues"))
	fs.Bool("strict-priority", false, usage("serve a queue only when every queue of higher weight is empty", "worker.strict_priority"))
	fs.Duration("lease", defDuration("worker.lease"), usage("session lease; renewed every third of it while a job runs", "worker.lease"))
	fs.Duration("shutdown-grace", defDuration("worker.shutdown_grace"), usage("how long running jobs may finish on shutdown", "worker.shutdown_grace"))
	fs.StringArray("exec", defStrings("worker.exec"), usage("TYPE=COMMAND: run COMMAND for jobs of TYPE (repeatable; in the env one per line)", "worker.exec"))
	fs.Int("exec-max-output", defInt("worker.exec_max_output"), usage("bytes of an exec command's output kept as result (0: handler default)", "worker.exec_max_output"))
	fs.String("exec-dir", defString("worker.exec_dir"), usage("working directory of exec commands (default: the worker's)", "worker.exec_dir"))
	fs.String("exec-stderr-log", defString("worker.exec_stderr_log"), usage("level at which a failed exec command's stderr (its last 512 bytes, which may hold payload text) is logged: off, debug, info, warn or error", "worker.exec_stderr_log"))
	fs.Duration("repair-interval", defDuration("worker.repair_interval"), usage("time between repair passes while this worker leads the maintenance", "worker.repair_interval"))
	fs.Bool("no-repair", false, usage("take no part in the maintenance election (repair, expiry sweep)", "worker.no_repair"))
	fs.Bool("no-batch", false, usage("send each ledger call in a round trip of its own, instead of one pipeline for the calls the slots make at about the same time", "worker.no_batch"))
	fs.Duration("retention", defDuration("worker.retention"), usage("how long a finished session job stays readable", "worker.retention"))
}

// newWorker builds a worker with the exec handlers of wc and the built-in
// handlers given (an exec mapping of the same type wins), and returns the
// job types it handles, sorted.
// Session jobs see their session in tbl, and the worker runs tbl's expiry
// sweep while it leads the maintenance.
func newWorker(rdb redis.UniversalClient, wc WorkerConfig, log *slog.Logger, builtin map[string]worker.Handler, reg prometheus.Registerer, tbl *sessiontable.Table) (*worker.Worker, []string, error) {
	mappings, err := wc.execMappings()
	if err != nil {
		return nil, nil, err
	}
	c := wc.workerConfig()
	c.Logger = log
	c.Registerer = reg
	c.Attacher = worker.SessionTable(tbl)
	if c.Maintenance.Tasks, err = sweepTasks(tbl); err != nil {
		return nil, nil, err
	}
	w, err := worker.New(rdb, c)
	if err != nil {
		return nil, nil, err
	}
	var types []string
	for _, m := range mappings {
		h, err := worker.NewExecHandler(m.command, worker.ExecOptions{MaxOutput: wc.ExecMaxOutput, Dir: wc.ExecDir})
		if err != nil {
			return nil, nil, fmt.Errorf("--exec %s=%s: %w", m.jobType, m.command, err)
		}
		if err := w.Handle(m.jobType, h); err != nil {
			return nil, nil, err
		}
		types = append(types, m.jobType)
	}
	for typ, h := range builtin {
		if slices.Contains(types, typ) {
			continue
		}
		if err := w.Handle(typ, h); err != nil {
			return nil, nil, err
		}
		types = append(types, typ)
	}
	slices.Sort(types)
	return w, types, nil
}

// sayWhatItDoes logs, once at start, what the worker does: its ID, slots,
// queues, the job types it handles and, for exec types, the program each
// runs (not the whole command line, which may hold a secret).
func sayWhatItDoes(log *slog.Logger, id string, wc WorkerConfig, types []string) {
	mappings, _ := wc.execMappings() // checked at start
	var programs []string
	for _, m := range mappings {
		words := strings.Fields(m.command)
		programs = append(programs, m.jobType+"="+words[0])
	}
	log.Info("worker ready", "id", id, "concurrency", wc.Concurrency, "queues", strings.Join(wc.Queues, ","),
		"types", strings.Join(types, ","), "exec", strings.Join(programs, ","))
}

// checkExec checks that every exec command can run and that the exec
// directory is one (worker.CheckExec).
func (w WorkerConfig) checkExec() error {
	mappings, err := w.execMappings()
	if err != nil {
		return err
	}
	if err := worker.CheckExecDir(w.ExecDir); err != nil {
		return fmt.Errorf("worker.exec_dir (--exec-dir): %w", err)
	}
	for _, m := range mappings {
		if err := worker.CheckExec(m.command, worker.ExecOptions{Dir: w.ExecDir}); err != nil {
			return fmt.Errorf("--exec %s=%s: %w", m.jobType, m.command, err)
		}
	}
	return nil
}

// signalContext is ctx, cancelled on SIGINT or SIGTERM. Calling stop
// restores the default handling, so that a second signal ends the process.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
