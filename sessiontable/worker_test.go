package sessiontable_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// seed makes a session with parameters and files for a job to see.
func seed(t *testing.T, tbl *sessiontable.Table) string {
	t.Helper()
	ctx := context.Background()
	id := create(t, tbl, sessiontable.Spec{Params: map[string]string{"my_stored_info": "3.14", "gone": "x"}})
	require.NoError(t, tbl.PutFile(ctx, id, "data.xml", []byte("<in/>")))
	require.NoError(t, tbl.PutFile(ctx, id, "old.txt", []byte("old")))
	return id
}

// requireSeeded checks that the session is as seed left it.
func requireSeeded(t *testing.T, tbl *sessiontable.Table, id string) {
	t.Helper()
	ctx := context.Background()
	params, err := tbl.Params(ctx, id, sessiontable.OutOfSession())
	require.NoError(t, err)
	require.Equal(t, map[string]string{"my_stored_info": "3.14", "gone": "x"}, params)
	fs, err := tbl.Files(ctx, id, sessiontable.OutOfSession())
	require.NoError(t, err)
	require.Equal(t, []sessiontable.FileInfo{{Name: "data.xml", Size: 5}, {Name: "old.txt", Size: 3}}, fs)
	b, err := tbl.File(ctx, id, "data.xml", sessiontable.OutOfSession())
	require.NoError(t, err)
	require.Equal(t, "<in/>", string(b))
}

// requireComposed checks the changes every "compose" job below makes.
func requireComposed(t *testing.T, tbl *sessiontable.Table, id string) {
	t.Helper()
	ctx := context.Background()
	params, err := tbl.Params(ctx, id)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"my_stored_info": "3.14", "result": "done"}, params)
	fs, err := tbl.Files(ctx, id)
	require.NoError(t, err)
	require.Equal(t, []sessiontable.FileInfo{{Name: "data.xml", Size: 8}, {Name: "out.pdf", Size: 8}}, fs)
	for name, want := range map[string]string{"data.xml": "<edited>", "out.pdf": "composed"} {
		b, err := tbl.File(ctx, id, name)
		require.NoError(t, err)
		require.Equal(t, want, string(b))
	}
}

// compose is a Go handler that reads the session and changes it: it edits
// data.xml, writes out.pdf, removes old.txt, sets "result" and deletes
// "gone". fail makes it fail after all that.
func compose(seen chan<- string, fail bool) worker.HandlerFunc {
	return func(ctx context.Context, job *worker.Job) error {
		js := sessiontable.FromContext(ctx)
		if !js.Active() {
			return errors.New("this service requires a session")
		}
		in, err := os.ReadFile(filepath.Join(js.Dir(), "data.xml"))
		if err != nil {
			return err
		}
		v, _ := js.Param("my_stored_info")
		seen <- string(in) + " " + v + " " + js.ID()
		if err := os.WriteFile(filepath.Join(js.Dir(), "data.xml"), []byte("<edited>"), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(js.Dir(), "out.pdf"), []byte("composed"), 0o600); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(js.Dir(), "old.txt")); err != nil {
			return err
		}
		if err := js.SetParam("result", "done"); err != nil {
			return err
		}
		if err := js.DeleteParam("gone"); err != nil {
			return err
		}
		if fail {
			return errors.New("failing after the changes")
		}
		return nil
	}
}

// A Go job sees the session's files and parameters, and what it changes is
// written back when it succeeds.
func TestGoJobSeesSession(t *testing.T) {
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		cfg.TempDir = t.TempDir()
		tbl, rdb := newTable(t, cfg)
		id := seed(t, tbl)
		seen := make(chan string, 1)
		startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{"compose": compose(seen, false)})
		in := runJob(t, newClient(t, rdb), "compose", jobs.Session(id))
		require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
		require.Equal(t, "<in/> 3.14 "+id, <-seen)
		requireComposed(t, tbl, id)
		ents, err := os.ReadDir(cfg.TempDir)
		require.NoError(t, err)
		require.Empty(t, ents, "the job's directory was not removed")
	})
}

// execScript is an exec job that does what compose does, through the
// environment and the parameters file, then runs last (true, or false to
// fail).
func execScript(last string) string {
	return `sh -c '
set -eu
test "$SESSIONQ_SESSION_ACTIVE" = true
cat "$SESSIONQ_SESSION_DIR/data.xml"
echo
cat "$SESSIONQ_SESSION_PARAMS"
echo "app=$SESSIONQ_APPLICATION_ID"
printf "<edited>" > "$SESSIONQ_SESSION_DIR/data.xml"
printf composed > "$SESSIONQ_SESSION_DIR/out.pdf"
rm -f "$SESSIONQ_SESSION_DIR/old.txt"
printf "{\"my_stored_info\": \"3.14\", \"result\": \"done\"}" > "$SESSIONQ_SESSION_PARAMS"
` + last + `'`
}

// An exec job sees the same through SESSIONQ_SESSION_DIR and
// SESSIONQ_SESSION_PARAMS, and its changes are written back on success.
func TestExecJobSeesSession(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the exec handler runs on Linux only")
	}
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		tbl, rdb := newTable(t, cfg)
		id := seed(t, tbl)
		h, err := worker.NewExecHandler(execScript("true"), worker.ExecOptions{})
		require.NoError(t, err)
		startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{"compose": h})
		in := runJob(t, newClient(t, rdb), "compose", jobs.Session(id), jobs.Application("pdf"))
		require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
		out := string(in.Result)
		require.Contains(t, out, "<in/>\n")
		require.Contains(t, out, `"my_stored_info": "3.14"`)
		require.Contains(t, out, "app=pdf\n")
		// The job ran in sub-session "pdf": its parameter changes are there,
		// and "gone" (the parent's) shows through; the files are the
		// session's.
		params, err := tbl.Params(context.Background(), id, sessiontable.Application("pdf"))
		require.NoError(t, err)
		require.Equal(t, map[string]string{"my_stored_info": "3.14", "result": "done", "gone": "x"}, params)
		parent, err := tbl.Params(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"my_stored_info": "3.14", "gone": "x"}, parent)
		// Without an application ID the same job changes the session itself.
		in = runJob(t, newClient(t, rdb), "compose", jobs.Session(id))
		require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
		requireComposed(t, tbl, id)
	})
}

// Changes are written back only when the job succeeds: a failed run leaves
// the session as it was, and its retry starts from the session, not from
// what the failed run left.
func TestWriteBackOnlyOnSuccess(t *testing.T) {
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		tbl, rdb := newTable(t, cfg)
		id := seed(t, tbl)
		seen := make(chan string, 10)
		var runs atomic.Int32
		handlers := map[string]worker.Handler{
			"fail": compose(seen, true),
			// Fails its first run, succeeds its second.
			"flaky": worker.HandlerFunc(func(ctx context.Context, job *worker.Job) error {
				return compose(seen, runs.Add(1) == 1)(ctx, job)
			}),
		}
		if runtime.GOOS == "linux" {
			h, err := worker.NewExecHandler(execScript("exit 3"), worker.ExecOptions{})
			require.NoError(t, err)
			handlers["exec-fail"] = h
		}
		startWorker(t, rdb, tbl, worker.Config{}, handlers)
		c := newClient(t, rdb)
		in := runJob(t, c, "fail", jobs.Session(id), jobs.MaxRetry(0))
		require.Equal(t, jobs.StateFailed, in.State)
		<-seen
		requireSeeded(t, tbl, id)
		if runtime.GOOS == "linux" {
			in = runJob(t, c, "exec-fail", jobs.Session(id), jobs.MaxRetry(0))
			require.Equal(t, jobs.StateFailed, in.State)
			require.Contains(t, in.LastError, "exit status 3")
			requireSeeded(t, tbl, id)
		}

		in = runJob(t, c, "flaky", jobs.Session(id), jobs.MaxRetry(1))
		require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
		require.Equal(t, "<in/> 3.14 "+id, <-seen)
		require.Equal(t, "<in/> 3.14 "+id, <-seen, "the retry saw what the failed run left")
		requireComposed(t, tbl, id)
	})
}

// A writer whose fencing token is no longer current is refused, and writes
// nothing: here the job's lease expired and the same job was taken up
// again elsewhere with a new token.
func TestStaleTokenRefused(t *testing.T) {
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		ctx := context.Background()
		tbl, rdb := newTable(t, cfg)
		id := seed(t, tbl)
		sub, err := newClient(t, rdb).Submit(ctx, "compose", nil, jobs.Session(id))
		require.NoError(t, err)
		led := ledger.New(rdb)
		first, err := led.Acquire(ctx, id, sub.ID, 1, "w1", 100*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, ledger.OK, first.Verdict)

		seen := make(chan string, 2)
		job1 := workerJob(first.Job)
		hctx, att1, err := worker.SessionTable(tbl).Attach(ctx, job1)
		require.NoError(t, err)
		defer att1.Close()
		require.NoError(t, compose(seen, false)(hctx, job1))

		// The lease runs out; the job is taken up again with a new token.
		var second ledger.AcquireResult
		eventually(t, 5*time.Second, func() bool {
			second, err = led.Acquire(ctx, id, sub.ID, 1, "w2", time.Minute)
			require.NoError(t, err)
			return second.Verdict == ledger.OK
		}, "the lease to expire")
		require.Greater(t, second.Job.Token, first.Job.Token)

		err = att1.Commit(ctx, nil)
		require.ErrorIs(t, err, worker.ErrLeaseLost)
		require.Contains(t, err.Error(), "fencing token "+strconv.FormatInt(first.Job.Token, 10))
		requireSeeded(t, tbl, id)

		// The current holder commits.
		job2 := workerJob(second.Job)
		hctx, att2, err := worker.SessionTable(tbl).Attach(ctx, job2)
		require.NoError(t, err)
		defer att2.Close()
		require.NoError(t, compose(seen, false)(hctx, job2))
		require.NoError(t, att2.Commit(ctx, nil))
		requireComposed(t, tbl, id)
	})
}

// The same through a running worker: a takeover while the handler runs
// makes its commit fail, and the session keeps what it had.
func TestStaleTokenRefusedByWorker(t *testing.T) {
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		ctx := context.Background()
		tbl, rdb := newTable(t, cfg)
		id := seed(t, tbl)
		logs := &logBuffer{}
		running, release := make(chan struct{}), make(chan struct{})
		seen := make(chan string, 1)
		startWorker(t, rdb, tbl, worker.Config{Logger: logs.logger()}, map[string]worker.Handler{
			"compose": worker.HandlerFunc(func(ctx context.Context, job *worker.Job) error {
				close(running)
				<-release
				return compose(seen, false)(ctx, job)
			}),
		})
		_, err := newClient(t, rdb).Submit(ctx, "compose", nil, jobs.Session(id))
		require.NoError(t, err)
		<-running
		// Another holder takes the lease over (as after a pause past the
		// lease): a new fencing token.
		tok, err := rdb.HIncrBy(ctx, keys.Run(id), "fence", 1).Result()
		require.NoError(t, err)
		require.NoError(t, rdb.HSet(ctx, keys.Run(id), "tok", tok).Err())
		close(release)
		<-seen
		eventually(t, 10*time.Second, func() bool {
			return strings.Contains(logs.String(), "session lease lost")
		}, "the worker to give the job up")
		requireSeeded(t, tbl, id)
	})
}

func workerJob(rj *ledger.RunJob) *worker.Job {
	return &worker.Job{ID: rj.ID, Type: rj.Type, SessionID: rj.Session, AppID: rj.AppID, Active: rj.Active,
		FencingToken: rj.Token, Attempt: int(rj.Attempt), OutOfSession: rj.OutOfSess}
}

// Jobs of every sub-session of a session still run one at a time; each
// writes its own sub-session, falling back to the parent's value.
func TestSubSessionJobsSerialize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	id := create(t, tbl, sessiontable.Spec{Params: map[string]string{"n": "100"}})
	var inFlight, most atomic.Int32
	startWorker(t, rdb, tbl, worker.Config{Concurrency: 8}, map[string]worker.Handler{
		"count": worker.HandlerFunc(func(ctx context.Context, job *worker.Job) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				if m := most.Load(); n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			js := sessiontable.FromContext(ctx)
			v, _ := js.Param("n")
			i, err := strconv.Atoi(v)
			if err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond) // widen any overlap
			return js.SetParam("n", strconv.Itoa(i+1))
		}),
	})
	c := newClient(t, rdb)
	apps := []string{"a1", "a2", "a3"}
	var ids []string
	for range 5 {
		for _, app := range apps {
			sub, err := c.Submit(ctx, "count", nil, jobs.Session(id), jobs.Application(app))
			require.NoError(t, err)
			ids = append(ids, sub.ID)
		}
	}
	for _, jid := range ids {
		eventually(t, 20*time.Second, func() bool {
			in, err := c.Get(ctx, jid)
			require.NoError(t, err)
			require.NotEqual(t, jobs.StateFailed, in.State, in.LastError)
			return in.State == jobs.StateSucceeded
		}, "job %s", jid)
	}
	require.EqualValues(t, 1, most.Load(), "jobs of one session overlapped")
	for _, app := range apps {
		v, err := tbl.Param(ctx, id, "n", sessiontable.Application(app))
		require.NoError(t, err)
		require.Equal(t, "105", v, app)
	}
	v, err := tbl.Param(ctx, id, "n")
	require.NoError(t, err)
	require.Equal(t, "100", v)
}

// A job whose session ID names no session runs inactive; so does one queued
// for a session that was closed before it ran.
func TestInactiveJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	c := newClient(t, rdb)
	closed := create(t, tbl, sessiontable.Spec{Params: map[string]string{"k": "v"}})
	queued, err := c.Submit(ctx, "probe", nil, jobs.Session(closed))
	require.NoError(t, err)
	require.NoError(t, tbl.Close(ctx, closed))

	type view struct {
		active, jobActive bool
		dir               string
		setErr            error
		env               []string
	}
	views := make(chan view, 2)
	startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{
		"probe": worker.HandlerFunc(func(ctx context.Context, job *worker.Job) error {
			js := sessiontable.FromContext(ctx)
			views <- view{js.Active(), job.Active, js.Dir(), js.SetParam("k", "v"), js.Env()}
			return nil
		}),
	})
	for _, sid := range []string{closed, "user-42"} {
		var in *jobs.Info
		if sid == closed {
			in = waitJob(t, c, queued.ID, 10*time.Second)
		} else {
			in = runJob(t, c, "probe", jobs.Session(sid))
		}
		require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
		v := <-views
		require.False(t, v.active, sid)
		require.False(t, v.jobActive, sid)
		require.Empty(t, v.dir)
		require.ErrorIs(t, v.setErr, sessiontable.ErrInactive)
		require.Contains(t, v.env, "SESSIONQ_SESSION_ACTIVE=false")
		require.Contains(t, v.env, "SESSIONQ_SESSION_DIR=")
		require.Contains(t, v.env, "SESSIONQ_SESSION_ID="+sid)
	}
	_, err = tbl.Get(ctx, closed)
	require.ErrorIs(t, err, sessiontable.ErrNotFound, "an inactive job revived its session")
	require.Empty(t, existing(t, rdb, keys.Session(closed), keys.SessionParams(closed), keys.SessionFiles(closed)))
}

// existing returns those of ks that exist.
func existing(t *testing.T, rdb *redis.Client, ks ...string) []string {
	t.Helper()
	var out []string
	for _, k := range ks {
		n, err := rdb.Exists(context.Background(), k).Result()
		require.NoError(t, err)
		if n > 0 {
			out = append(out, k)
		}
	}
	return out
}

// A job whose output the table cannot take fails for good, and writes
// nothing.
func TestBadJobOutputRefused(t *testing.T) {
	t.Parallel()
	tbl, rdb := newTable(t, sessiontable.Config{MaxFileSize: 16})
	id := seed(t, tbl)
	var mu sync.Mutex
	what := ""
	startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{
		"bad": worker.HandlerFunc(func(ctx context.Context, job *worker.Job) error {
			js := sessiontable.FromContext(ctx)
			_ = os.WriteFile(filepath.Join(js.Dir(), "data.xml"), []byte("<changed/>"), 0o600)
			mu.Lock()
			defer mu.Unlock()
			switch what {
			case "dir":
				return os.Mkdir(filepath.Join(js.Dir(), "sub"), 0o700)
			case "link":
				return os.Symlink("/etc/passwd", filepath.Join(js.Dir(), "passwd"))
			case "big":
				return os.WriteFile(filepath.Join(js.Dir(), "big"), make([]byte, 17), 0o600)
			case "params":
				return os.WriteFile(js.ParamsFile(), []byte(`{"k": 1}`), 0o600)
			case "badkey":
				return os.WriteFile(js.ParamsFile(), []byte(`{"a=b": "1"}`), 0o600)
			}
			return nil
		}),
	})
	c := newClient(t, rdb)
	for _, w := range []string{"dir", "link", "big", "params", "badkey"} {
		mu.Lock()
		what = w
		mu.Unlock()
		in := runJob(t, c, "bad", jobs.Session(id), jobs.MaxRetry(3))
		require.Equal(t, jobs.StateFailed, in.State, w)
		require.Equal(t, 1, in.Attempts, "%s: the failure should be final", w)
		require.Contains(t, in.LastError, "committing session changes", w)
		requireSeeded(t, tbl, id)
	}
}

// The worker hands the attacher's context to the handler also when the job
// has a timeout (the default).
func TestHandlerWithTimeoutSeesSession(t *testing.T) {
	t.Parallel()
	tbl, rdb := newTable(t, sessiontable.Config{})
	id := create(t, tbl, sessiontable.Spec{})
	saw := make(chan bool, 1)
	startWorker(t, rdb, tbl, worker.Config{}, map[string]worker.Handler{
		"probe": worker.HandlerFunc(func(ctx context.Context, job *worker.Job) error {
			saw <- sessiontable.FromContext(ctx).Active()
			return nil
		}),
	})
	in := runJob(t, newClient(t, rdb), "probe", jobs.Session(id), jobs.Timeout(time.Minute))
	require.Equal(t, jobs.StateSucceeded, in.State, in.LastError)
	require.True(t, <-saw, "the handler of a job with a timeout must see its session")
}
