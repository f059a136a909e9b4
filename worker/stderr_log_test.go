package worker_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// captured is a slog handler that keeps every record, at every level.
type captured struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r.Clone())
	return nil
}
func (c *captured) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *captured) WithGroup(string) slog.Handler      { return c }

// find returns the records with message msg, each as its level and its
// attributes.
func (c *captured) find(msg string) []map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]string
	for _, r := range c.recs {
		if r.Message != msg {
			continue
		}
		m := map[string]string{"level": r.Level.String()}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}
	return out
}

// A failed exec command's stderr (which may hold payload text) is not in
// the worker's failure line; its last ExecStderrLogMax bytes are logged on
// a line of their own at the configured level, or not at all. The job's
// own error keeps the tail.
func TestExecStderrNotInFailureLog(t *testing.T) {
	t.Parallel()
	payload := "SECRET-START " + strings.Repeat("x", 1000) + " END-MARK"
	for _, tt := range []struct {
		level string
		want  string // the stderr line's level; "" for none
	}{
		{"", "DEBUG"},
		{"warn", "WARN"},
		{"error", "ERROR"},
		{"off", ""},
	} {
		t.Run("level="+tt.level, func(t *testing.T) {
			t.Parallel()
			rdb, _ := redistest.Client(t)
			log := &captured{}
			h, err := worker.NewExecHandler(`sh -c 'cat >&2; exit 3'`, worker.ExecOptions{})
			require.NoError(t, err)
			startWorker(t, rdb, worker.Config{Logger: slog.New(log), ExecStderrLog: tt.level},
				map[string]worker.HandlerFunc{"leak": h.Process})
			c := newClient(t, rdb)
			ctx := context.Background()
			plain, err := c.Submit(ctx, "leak", []byte(payload), jobs.MaxRetry(0))
			require.NoError(t, err)
			sess, err := c.Submit(ctx, "leak", []byte(payload), jobs.MaxRetry(0), jobs.Session("s-"+tt.level))
			require.NoError(t, err)
			infos := waitTerminal(t, c, []string{plain.ID, sess.ID}, 20*time.Second)
			for _, in := range infos {
				require.Equal(t, jobs.StateFailed, in.State)
				require.Contains(t, in.LastError, "exit status 3; stderr: SECRET-START", "the job's error keeps the tail")
				require.Contains(t, in.LastError, "END-MARK")
			}
			var failures []map[string]string
			eventually(t, 5*time.Second, func() bool {
				failures = log.find("job failed for good: dead-lettered")
				return len(failures) == 2
			}, "both failures logged")
			for _, f := range failures {
				require.Equal(t, "ERROR", f["level"])
				require.Equal(t, "exec sh: exit status 3", f["err"])
			}
			lines := log.find("stderr of the failed exec command")
			if tt.want == "" {
				require.Empty(t, lines)
				return
			}
			require.Len(t, lines, 2)
			for _, l := range lines {
				require.Equal(t, tt.want, l["level"])
				require.NotEmpty(t, l["job"])
				require.True(t, strings.HasPrefix(l["stderr"], "..."), "cut: %q", l["stderr"])
				require.True(t, strings.HasSuffix(l["stderr"], " END-MARK"))
				require.LessOrEqual(t, len(l["stderr"]), worker.ExecStderrLogMax+3)
				require.NotContains(t, l["stderr"], "SECRET-START")
			}
		})
	}
}

func TestExecStderrLogConfig(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	_, err := worker.New(rdb, testConfig(worker.Config{ExecStderrLog: "loud"}))
	require.EqualError(t, err, `worker: exec stderr log "loud": want off, debug, info, warn or error`)
}
