package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/internal/devredis"
	"github.com/sessionq/sessionq/internal/redact"
	"github.com/sessionq/sessionq/scheduler"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// defaultDevListen is where `sessionq dev` serves its embedded Redis: a
// fixed port, so that the line to export is the same every time, and not
// 6379, which is often another Redis.
const defaultDevListen = "127.0.0.1:6380"

func newDevCmd(e *env) *cobra.Command {
	var listen, gatewayAddr string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run an all-in-one dev stack: embedded Redis, a worker and a scheduler",
		Long: `Run everything in one process, ready for ` + "`sessionq submit`" + ` from another terminal:
an embedded in-memory Redis on 127.0.0.1:6380 (--listen; unless --redis is
given), a worker and a scheduler. Nothing is persisted: the embedded Redis is
gone when dev exits. It prints the line to export in other terminals:

  export SESSIONQ_REDIS_URL=redis://127.0.0.1:6380/0

The worker handles the sample job types below, plus any --exec mappings
(an --exec mapping of the same type replaces the sample):
  echo        the result is the payload
  doc.render  "renders" a document: sleeps 100-400ms, the result describes it
              (payload: optional JSON {"doc": "name", "pages": n})
  sleep       sleeps for the payload's duration (such as 2s), or until cancelled
  fail        fails; payload "once" fails only the first attempt`,
		Example: `  sessionq dev
  sessionq dev --listen 127.0.0.1:6399 --exec 'pdf.merge=/usr/local/bin/merge'
  sessionq dev --listen 127.0.0.1:0     # a free port
  sessionq dev --redis redis://127.0.0.1:6379/0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.bindFlags(cmd, workerFlagKeys); err != nil {
				return err
			}
			if err := e.bindFlags(cmd, schedulerFlagKeys); err != nil {
				return err
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			if err := cfg.Worker.checkExec(); err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			st, err := startRedis(ctx, cmd.Flags().Changed("redis"), cfg.Redis.URL, listen)
			if err != nil {
				return err
			}
			defer st.close()
			log := e.logger(cfg)
			tbl, _, err := e.sessionTable(st.rdb)
			if err != nil {
				return err
			}
			w, types, err := newWorker(st.rdb, cfg.Worker, log, sampleHandlers(), nil, tbl)
			if err != nil {
				return err
			}
			sc := cfg.Scheduler.schedulerConfig()
			sc.Logger = log
			if sc.Tasks, err = sweepTasks(tbl); err != nil {
				return err
			}
			s, err := scheduler.New(st.rdb, sc)
			if err != nil {
				return err
			}
			if err := w.Start(ctx); err != nil {
				return err
			}
			defer w.Stop()
			if err := s.Start(ctx); err != nil {
				return err
			}
			defer s.Stop()
			var gw *devGateway
			if gatewayAddr != "" {
				sessCfg, err := e.sessionConfig()
				if err != nil {
					return err
				}
				if gw, err = startDevGateway(ctx, st.rdb, tbl, cfg, sessCfg, gatewayAddr, log); err != nil {
					return err
				}
				defer gw.srv.Stop()
			}
			shown := redact.URL(st.url)
			note := ""
			if shown != st.url {
				note = "   # password masked: use your own URL"
			}
			fmt.Fprintf(e.out, `sessionq dev is running: %s, a worker (%d slots, queues %s) and a scheduler.
Job types: %s
Use it from another terminal with --redis %s, or:

  export SESSIONQ_REDIS_URL=%s%s
  sessionq submit --type doc.render --session demo-1 --payload '{"doc":"report"}' --wait

`, st.desc, cfg.Worker.Concurrency, strings.Join(cfg.Worker.Queues, ","), strings.Join(types, ", "), shown, shown, note)
			if gw != nil {
				gw.print(e.out)
			}
			fmt.Fprintln(e.out, "\nPress Ctrl-C to stop.")
			<-ctx.Done()
			stop() // a second signal ends the process at once
			fmt.Fprintln(e.errOut, "sessionq dev: stopping")
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen", defaultDevListen, "address of the embedded Redis (port 0: a free one)")
	fs.StringVar(&gatewayAddr, "gateway-addr", gateway.DefaultAddr, `address of the HTTP gateway, with auth on ("": no gateway)`)
	addWorkerFlags(fs)
	addSchedulerFlags(fs)
	return cmd
}

// stack is the Redis of dev or demo: embedded, or the one given.
type stack struct {
	rdb   *redis.Client
	url   string
	desc  string
	close func()
}

// startRedis starts an embedded Redis on listen, unless explicit is set,
// in which case it connects to url.
func startRedis(ctx context.Context, explicit bool, url, listen string) (*stack, error) {
	if explicit {
		rdb, err := openSingle(ctx, url)
		if err != nil {
			return nil, err
		}
		return &stack{rdb: rdb, url: url, desc: "Redis at " + rdb.Options().Addr, close: func() { _ = rdb.Close() }}, nil
	}
	srv, err := devredis.StartAddr(ctx, listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("cannot serve the embedded Redis on %s: the address is in use (another sessionq dev?); stop it, or give --listen 127.0.0.1:PORT (port 0: a free one)", listen)
	}
	if err != nil {
		return nil, err
	}
	rdb, err := openSingle(ctx, srv.URL())
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &stack{
		rdb: rdb, url: srv.URL(),
		desc: "an embedded Redis at " + srv.Addr() + " (in memory)",
		close: func() {
			_ = rdb.Close()
			srv.Close()
		},
	}, nil
}

// sampleHandlers are the Go handlers of `sessionq dev`.
func sampleHandlers() map[string]worker.Handler {
	return map[string]worker.Handler{
		"echo": worker.HandlerFunc(func(_ context.Context, j *worker.Job) error {
			j.SetResult(j.Payload)
			return nil
		}),
		"doc.render": worker.HandlerFunc(renderDoc),
		"sleep": worker.HandlerFunc(func(ctx context.Context, j *worker.Job) error {
			d, err := time.ParseDuration(strings.TrimSpace(string(j.Payload)))
			if err != nil || d < 0 {
				return fmt.Errorf("payload %q is not a duration such as 2s: %w", j.Payload, worker.ErrSkipRetry)
			}
			if err := sleepCtx(ctx, d); err != nil {
				return err
			}
			j.SetResult([]byte("slept " + d.String()))
			return nil
		}),
		"fail": worker.HandlerFunc(func(_ context.Context, j *worker.Job) error {
			if strings.TrimSpace(string(j.Payload)) == "once" && j.Attempt > 1 {
				j.SetResult([]byte("succeeded on attempt " + fmt.Sprint(j.Attempt)))
				return nil
			}
			return fmt.Errorf("failed on purpose (attempt %d)", j.Attempt)
		}),
	}
}

// renderDoc pretends to render a document for a while.
func renderDoc(ctx context.Context, j *worker.Job) error {
	in := struct {
		Doc   string `json:"doc"`
		Pages int    `json:"pages"`
	}{Doc: "untitled", Pages: 1 + rand.IntN(20)}
	if len(j.Payload) > 0 {
		if err := json.Unmarshal(j.Payload, &in); err != nil {
			return fmt.Errorf("payload is not JSON {\"doc\": ..., \"pages\": ...}: %w: %w", err, worker.ErrSkipRetry)
		}
	}
	start := time.Now()
	if err := sleepCtx(ctx, 100*time.Millisecond+rand.N(300*time.Millisecond)); err != nil {
		return err
	}
	out, err := json.Marshal(map[string]any{
		"doc": in.Doc, "pages": in.Pages, "session": j.SessionID, "active": j.Active,
		"seq": j.Seq, "attempt": j.Attempt, "took_ms": time.Since(start).Milliseconds(),
	})
	if err != nil {
		return err
	}
	// In a live session, the rendering lands in the session's files, and
	// the session remembers the last document rendered.
	if s := sessiontable.FromContext(ctx); s.Active() {
		name := fmt.Sprintf("rendered-%d.json", j.Seq)
		if err := os.WriteFile(filepath.Join(s.Dir(), name), out, 0o644); err != nil {
			return fmt.Errorf("writing %s to the session: %w", name, err)
		}
		if err := s.SetParam("last_rendered", in.Doc); err != nil {
			return err
		}
	}
	j.SetResult(out)
	return nil
}

// sleepCtx sleeps for d or until ctx ends, and returns ctx's cause then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			return c
		}
		return ctx.Err()
	}
}
