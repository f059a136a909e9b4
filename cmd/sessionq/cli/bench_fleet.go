package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/cmd/sessionq/bench"
)

// newBenchFleetCmd builds `sessionq bench-fleet`.
func newBenchFleetCmd(e *env) *cobra.Command {
	var (
		asJSON bool
		cfg    bench.FleetConfig
	)
	cmd := &cobra.Command{
		Use:   "bench-fleet",
		Short: "Measure fleets of 1, 2, 4 and 8 worker processes on one Redis, sessionq and raw asynq",
		Long: `bench-fleet runs, for spread (one job per session) and zipf (Zipf(1.1) over 1,000 sessions),
fleets of worker processes of this binary (1, 2, 4 and 8 by default, --concurrency slots each),
sessionq workers and then raw asynq servers with the same no-op handler, on one Redis: it fills the
paused queue, starts the processes, unpauses the queue and measures until every job ran. It prints
jobs/s, the Redis server's CPU per job (INFO cpu), the workers' CPU per job and, from the Redis CPU,
the Redis-bound ceiling: the jobs/s one Redis core would carry.

Redis: a redis-server started on a free port of 127.0.0.1 when one is on PATH, unless --redis is
given; a given database must be empty.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.RedisURL = e.redisURL()
			if !cmd.Flags().Changed("redis") {
				srv, err := bench.StartServer(ctx)
				switch {
				case err == nil:
					defer srv.Stop()
					cfg.RedisURL = srv.URL()
				case !errors.Is(err, bench.ErrNoRedisServer):
					return err
				}
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding this binary: %w", err)
			}
			cfg.Command = []string{self, "bench-worker"}
			rs, err := bench.RunFleet(ctx, cfg, e.errOut)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(e.out, rs)
			}
			return bench.WriteFleetTable(e.out, rs)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the results as JSON, one object per trial")
	f.IntSliceVar(&cfg.Sizes, "sizes", nil, "numbers of worker processes (default 1,2,4,8)")
	f.IntVar(&cfg.Concurrency, "concurrency", 0, "slots per worker process (default 10)")
	f.IntVar(&cfg.Jobs, "jobs", 0, "jobs per trial (default 10000)")
	f.StringSliceVar(&cfg.Scenarios, "scenario", nil, "spread, zipf (default both)")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "cap of each trial (default 60s)")
	return cmd
}

// newBenchWorkerCmd builds the hidden `sessionq bench-worker`, one worker
// process of bench-fleet.
func newBenchWorkerCmd(e *env) *cobra.Command {
	var wc bench.FleetWorkerConfig
	cmd := &cobra.Command{
		Use:    "bench-worker",
		Short:  "One worker process of bench-fleet (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opt, err := redis.ParseURL(e.redisURL())
			if err != nil {
				return fmt.Errorf("invalid Redis URL: %w", err)
			}
			rdb := redis.NewClient(opt)
			defer rdb.Close()
			return bench.FleetWorker(ctx, rdb, wc, e.out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&wc.ID, "id", "", "worker ID")
	f.BoolVar(&wc.Raw, "raw", false, "run a raw asynq server instead of a sessionq worker")
	f.IntVar(&wc.Concurrency, "concurrency", 10, "slots")
	return cmd
}

// newBenchMemoryCmd builds `sessionq bench-memory`.
func newBenchMemoryCmd(e *env) *cobra.Command {
	var (
		asJSON bool
		cfg    bench.MemoryConfig
	)
	cmd := &cobra.Command{
		Use:   "bench-memory",
		Short: "Measure Redis memory per parked job and per idle session at a million of each, and submit times",
		Long: `bench-memory parks --count jobs (in --sessions sessions) and creates --count idle sessions (over
--owners owners, no TID), through the same client code as submit and session create, and reports
the growth of Redis used_memory per parked job and per idle session, MEMORY USAGE of single keys,
and the p50/p99 of a submit and of a session create on the empty and on the loaded Redis. With the
defaults it takes minutes and 1 to 2 GB of Redis memory.

Redis: a redis-server started on a free port of 127.0.0.1 when one is on PATH, unless --redis is
given; a given database must be empty, and is emptied at the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg.RedisURL = e.redisURL()
			if !cmd.Flags().Changed("redis") {
				srv, err := bench.StartServer(ctx)
				switch {
				case err == nil:
					defer srv.Stop()
					cfg.RedisURL = srv.URL()
				case !errors.Is(err, bench.ErrNoRedisServer):
					return err
				}
			}
			res, err := bench.RunMemory(ctx, cfg, e.errOut)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(e.out).Encode(res)
			}
			return bench.WriteMemoryReport(e.out, res)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.IntVar(&cfg.Count, "count", 0, "parked jobs, and idle sessions (default 1000000)")
	f.IntVar(&cfg.Sessions, "sessions", 0, "sessions the parked jobs wait in (default 100)")
	f.IntVar(&cfg.Owners, "owners", 0, "owners of the idle sessions (default 1000)")
	f.IntVar(&cfg.Workers, "workers", 0, "goroutines creating them (default 32)")
	f.IntVar(&cfg.Samples, "samples", 0, "timed operations of each kind, empty and loaded (default 2000)")
	return cmd
}
