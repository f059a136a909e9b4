package sessiontable_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessionqtest"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTable returns a table on a fresh Redis database, with the test's temp
// dir for job directories.
func newTable(t *testing.T, cfg sessiontable.Config) (*sessiontable.Table, *redis.Client) {
	t.Helper()
	rdb, _ := redistest.Client(t)
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	tbl, err := sessiontable.New(rdb, cfg)
	require.NoError(t, err)
	return tbl, rdb
}

// backends runs f with each file storage.
func backends(t *testing.T, f func(t *testing.T, cfg sessiontable.Config)) {
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		f(t, sessiontable.Config{})
	})
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		d, err := sessiontable.NewDirStorage(filepath.Join(t.TempDir(), "root"))
		require.NoError(t, err)
		f(t, sessiontable.Config{Storage: d})
	})
}

func create(t *testing.T, tbl *sessiontable.Table, spec sessiontable.Spec) string {
	t.Helper()
	in, err := tbl.Create(context.Background(), spec)
	require.NoError(t, err)
	return in.ID
}

// sessionKeys lists the keys under session id's hash tag (sq:{id}:*).
func sessionKeys(t *testing.T, rdb *redis.Client, id string) []string {
	t.Helper()
	ks, err := rdb.Keys(context.Background(), "sq:{"+id+"}:*").Result()
	require.NoError(t, err)
	return ks
}

// eventually is sessionqtest.Eventually.
var eventually = sessionqtest.Eventually

// startWorker starts a worker with the table as its attacher and the given
// handlers, stopped when the test ends.
func startWorker(t *testing.T, rdb redis.UniversalClient, tbl *sessiontable.Table, cfg worker.Config, handlers map[string]worker.Handler) {
	t.Helper()
	cfg.Attacher = worker.SessionTable(tbl)
	if cfg.Lease == 0 {
		cfg.Lease = 5 * time.Second
	}
	sessionqtest.StartWorker(t, rdb, cfg, handlers)
}

func newClient(t *testing.T, rdb redis.UniversalClient) *jobs.Client {
	t.Helper()
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// runJob submits a job and waits until it ended.
func runJob(t *testing.T, c *jobs.Client, typ string, opts ...jobs.Option) *jobs.Info {
	t.Helper()
	sub, err := c.Submit(context.Background(), typ, nil, opts...)
	require.NoError(t, err)
	return waitJob(t, c, sub.ID, 20*time.Second)
}

// waitJob waits until job id ended and returns it.
func waitJob(t *testing.T, c *jobs.Client, id string, within time.Duration) *jobs.Info {
	t.Helper()
	var in *jobs.Info
	eventually(t, within, func() bool {
		var err error
		in, err = c.Get(context.Background(), id)
		require.NoError(t, err)
		return in.State.Terminal()
	}, "job %s to end", id)
	return in
}

// logBuffer is a slog handler target that tests can search.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
