package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/worker"
)

var smallDemo = []string{"demo", "--sessions", "4", "--jobs-per-session", "5", "--plain-jobs", "6",
	"--workers", "2", "--concurrency", "3", "--job-time", "10ms"}

func TestDemoOnEmbeddedRedis(t *testing.T) {
	t.Parallel()
	out, errOut, err := run(t, smallDemo...)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "embedded Redis")
	require.Regexp(t, `guarantees\s+held`, out)
	require.Contains(t, out, "26 (20 in 4 sessions, 6 without a session): 26 succeeded")
	for _, s := range []string{"doc-1", "doc-2", "doc-3"} {
		// A live session: 5 jobs, 6 runs (one retried), in order, no
		// overlap, and its file lists the 5 jobs once each, in order.
		require.Regexp(t, `(?m)^`+s+`\s+yes\s+5\s+\d goroutines?\s+6\s+yes\s+0\s+\d\s+5 lines, in order$`, out)
	}
	// The last session ID names no session: inactive, still in order.
	require.Regexp(t, `(?m)^doc-4\s+no\s+5\s+\d goroutines?\s+6\s+yes\s+0\s+\d\s+-$`, out)
	// stderr is not a terminal: one line per 10%.
	require.Contains(t, errOut, "demo: 100% (26 of 26 jobs done)")
	require.Equal(t, 10, strings.Count(errOut, "jobs done)"))
}

func TestDemoOnRealRedis(t *testing.T) {
	t.Parallel()
	_, url := redistest.Client(t)
	out, errOut, err := run(t, append(smallDemo, "--redis", url)...)
	require.NoError(t, err, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "Redis at ")
	require.Regexp(t, `guarantees\s+held`, out)
}

func TestDemoRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{
		"--workers 0":                     "invalid --workers 0",
		"--sessions 0 --plain-jobs 0":     "nothing to run",
		"--jobs-per-session 0":            "invalid --jobs-per-session 0",
		"--job-time -1s":                  "invalid --job-time -1s",
		"--concurrency x":                 `invalid argument "x" for "-c, --concurrency"`,
		"--timeout 0s":                    "invalid --timeout 0s",
		"--sessions 2 extra-positional-x": `unknown command "extra-positional-x"`,
	} {
		_, _, err := run(t, append([]string{"demo"}, strings.Fields(args)...)...)
		require.ErrorContains(t, err, want, args)
	}
}

type noProgress struct{}

func (noProgress) Add(int) {}
func (noProgress) Finish() {}

// The demo's checker must see a broken guarantee: jobs of a session that
// start out of order or overlap, and a job run twice.
func TestDemoReportSeesViolations(t *testing.T) {
	t.Parallel()
	o := demoOptions{sessions: 1, perSession: 3, workers: 1, concurrency: 2}
	sessions := []demoSession{{name: "doc-1", id: "S", goroutines: 1}}
	subs := []submitted{
		{demoJob: demoJob{sess: 0, index: 0}, id: "a", seq: 1},
		{demoJob: demoJob{sess: 0, index: 1}, id: "b", seq: 2},
		{demoJob: demoJob{sess: 0, index: 2}, id: "c", seq: 3},
	}
	rec := newRecorder("run", 3, noProgress{})
	job := func(id string, seq int64) *worker.Job { return &worker.Job{ID: id, SessionID: "S", Seq: seq} }
	rec.start(job("b", 2), 1) // b before a: out of order
	rec.start(job("a", 1), 1) // while b runs: overlap
	rec.end(job("a", 1), true)
	rec.end(job("b", 2), true)
	rec.start(job("c", 3), 1)
	rec.end(job("c", 3), true)
	rec.start(job("c", 3), 1) // c again after it succeeded
	rec.end(job("c", 3), true)

	rep := newReport(o, sessions, subs, rec, time.Now())
	require.Len(t, rep.rows, 1)
	require.Equal(t, "NO", rep.rows[0].inOrder)
	require.Equal(t, "1", rep.rows[0].overlaps)
	require.Equal(t, 4, rep.rows[0].runs)
	text := strings.Join(rep.violations, "; ")
	require.Contains(t, text, "doc-1: 1 start(s) out of submission order")
	require.Contains(t, text, "doc-1: two jobs ran at once 1 time(s)")
	require.Contains(t, text, "job c succeeded 2 times")

	var b strings.Builder
	rep.print(&b)
	require.Regexp(t, `guarantees\s+BROKEN: `, b.String())
}
