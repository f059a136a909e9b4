package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sessionq/sessionq/cmd/sessionq/bench"
)

// newBenchCmd builds `sessionq bench`.
func newBenchCmd(e *env) *cobra.Command {
	var (
		asJSON     bool
		quick      bool
		rounds     int
		only       []string
		cpuProfile string
		budget     int
		noBatch    bool
		inFlight   int
		ndCap      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure sessionq against raw asynq and a naive session lock, on one Redis",
		Long: `bench runs every scenario (` + fmt.Sprint(bench.Names) + `) in this process against one
Redis: sessionq, raw asynq and, for zipf, a naive lock-and-retry handler, with the same jobs,
sessions, order and concurrency, so that the ratios hold on a noisy machine. The zipf scenarios
also run the naive handler once with asynq's default retry delay (naive-default), stopped after
--naive-default-cap: its jobs/s are the jobs done within the cap over the cap.

Redis: a redis-server started on a free port of 127.0.0.1 when one is on PATH, unless --redis is
given; else the configured Redis URL. A given database must be empty: the bench empties it
(FLUSHDB) before every trial and at the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			url := e.redisURL()
			if !cmd.Flags().Changed("redis") {
				srv, err := bench.StartServer(ctx)
				switch {
				case err == nil:
					defer srv.Stop()
					url = srv.URL()
				case !errors.Is(err, bench.ErrNoRedisServer):
					return err
				}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("creating CPU profile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("starting CPU profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			cfg := bench.Config{RedisURL: url, Quick: quick, Rounds: rounds, Scenarios: only, InlineBudget: budget, NoBatching: noBatch, BatchInFlight: inFlight, NaiveDefaultCap: ndCap, Log: e.errOut}
			var bar *progressbar.ProgressBar
			if f, ok := e.errOut.(*os.File); ok && !asJSON && term.IsTerminal(int(f.Fd())) {
				cfg.Progress = func(scenario string, done, total int64) {
					if bar == nil {
						bar = progressbar.NewOptions64(total,
							progressbar.OptionSetWriter(e.errOut),
							progressbar.OptionSetWidth(30),
							progressbar.OptionShowCount(),
							progressbar.OptionSetPredictTime(true),
							progressbar.OptionClearOnFinish(),
						)
					}
					bar.Describe(fmt.Sprintf("%-8s", scenario))
					_ = bar.Set64(done)
				}
			}
			rs, err := bench.Run(ctx, cfg)
			if bar != nil {
				_ = bar.Finish()
				_ = bar.Clear()
			}
			if err != nil {
				return err
			}
			if asJSON {
				return bench.WriteJSON(e.out, rs)
			}
			return bench.WriteTable(e.out, rs)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the results as JSON, one object per scenario (no progress bar)")
	f.BoolVar(&quick, "quick", false, "smaller workloads, two rounds: under a minute on 2 cores")
	f.IntVar(&rounds, "rounds", 0, "rounds per scenario, systems alternating; the median is reported (default 3, --quick 2)")
	f.StringSliceVar(&only, "scenario", nil, "run only these scenarios (repeat or comma-separate)")
	f.IntVar(&budget, "inline-budget", 0, "sessionq workers' InlineBudget (default: the worker's default)")
	f.BoolVar(&noBatch, "no-batch", false, "sessionq workers send each ledger call in a round trip of its own (worker --no-batch)")
	f.IntVar(&inFlight, "batch-in-flight", 0, "sessionq workers' most ledger pipelines in flight (default: the worker's default)")
	f.DurationVar(&ndCap, "naive-default-cap", 0, "wall-clock cap of the naive-default baseline of the zipf scenarios (default 20s, --quick 8s; negative: skip it)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	return cmd
}
