package dashboard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
)

// chromium finds a Chromium or Chrome binary. Without one the browser tests
// skip, unless CI is set: then they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("SESSIONQ_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium on PATH and CI is set: install it (apt-get install chromium; .ci/run does)")
	}
	t.Skip("no Chromium on PATH: the browser tests skip (apt-get install chromium to run them)")
	return ""
}

// browser starts a headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelCtx := chromedp.NewContext(actx)
	// The first action starts the browser: with no timeout of its own, as
	// the browser lives as long as that context.
	require.NoError(t, chromedp.Do(bctx), "starting Chromium")
	ctx, cancelTimeout := context.WithTimeout(bctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// artifacts is where screenshots go: $SESSIONQ_TEST_ARTIFACTS, else a
// directory under the system's temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SESSIONQ_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "sessionq-test-artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	require.NoError(t, err)
	p := filepath.Join(artifacts(t), name)
	require.NoError(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot: %s", p)
	// SESSIONQ_UPDATE_DOCS=1 refreshes the README's screenshot.
	if name == "dashboard-sessions.png" && os.Getenv("SESSIONQ_UPDATE_DOCS") != "" {
		require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "dashboard.png"), png, 0o644))
	}
}

// waitJS polls a JavaScript condition in the page until it is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, t)
		return chromedp.Void{}, err
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, sel)
	return s
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// The dashboard in a real browser, against a real gateway, worker and Redis:
// the sessions page lists a session with its backlog and flags it hot, its
// page shows its jobs in order and updates as one finishes, and a dead job
// is requeued from the jobs page.
func TestBrowser(t *testing.T) {
	ctx := browser(t) // first: without Chromium, skip before starting anything
	e := newEnv(t)
	sid, ids := e.session("alice", "till-7", hotBacklog+1)
	quiet, _ := e.session("bob", "", 1)

	// Login: the dashboard sends a browser without a login to the login page.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.base+"/ui/sessions"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), e.admin),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("table#sessions")),
	))

	// Sessions: the backlog, the hot flag, the order by backlog.
	row := `#sessions tr[data-id="` + sid + `"]`
	require.NoError(t, chromedp.Do(ctx, waitJS(`document.querySelector('`+row+` .hot-badge') !== null`)))
	require.Equal(t, strconv.Itoa(hotBacklog+1), text(t, ctx, row+" td.backlog"))
	require.Equal(t, "alice", text(t, ctx, row+" td:nth-child(2)"))
	require.Equal(t, []string{sid, quiet}, eval[[]string](t, ctx, `[...document.querySelectorAll('#sessions tbody tr')].map(r => r.dataset.id)`),
		"sorted by backlog, the largest first")
	require.False(t, eval[bool](t, ctx, `document.querySelector('#sessions tr[data-id="`+quiet+`"] .hot-badge') !== null`),
		"a session with one job is not hot")
	// After a live update (the page's script read the JSON), the lease
	// column still names the worker running the head.
	require.True(t, eval[bool](t, ctx, `(document.querySelector('#sessions tbody').dataset.server = "1") === "1"`))
	require.NoError(t, chromedp.Do(ctx, waitJS(`document.querySelector('#sessions tbody').dataset.server === undefined`)))
	require.NotContains(t, []string{"", "\u2014"}, text(t, ctx, row+" td:nth-child(5)"), "the lease holder, read from leaseHolder")
	screenshot(t, ctx, "dashboard-sessions.png")

	// One session: its jobs in order, updated live as the head finishes.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row+" a")),
		chromedp.WaitVisible(chromedp.CSS("table#jobs")),
	))
	require.Equal(t, []string{"1", "2", "3", "4"}, eval[[]string](t, ctx, `[...document.querySelectorAll('#jobs tbody tr')].map(r => r.cells[0].textContent)`))
	require.Equal(t, ids, eval[[]string](t, ctx, `[...document.querySelectorAll('#jobs tbody tr')].map(r => r.dataset.id)`))
	require.Equal(t, string(jobs.StateRunning), text(t, ctx, "#jobs tbody tr:first-child td.state"))
	screenshot(t, ctx, "dashboard-session.png")
	e.release <- struct{}{} // the head finishes; the next runs
	require.NoError(t, chromedp.Do(ctx, waitJS(`document.querySelector('#jobs tbody tr:first-child').dataset.id === "`+ids[1]+
		`" && document.querySelector('#jobs tbody tr:first-child td.state').textContent === "running" && document.getElementById('backlog').textContent === "3"`)))
	screenshot(t, ctx, "dashboard-session-updated.png")

	// A dead job, requeued from the page: it runs again and succeeds.
	dead, err := e.jobs.Submit(context.Background(), "failonce", nil, jobs.Session("s-dead"))
	require.NoError(t, err)
	e.eventually("the job is dead-lettered", func() bool {
		in, err := e.jobs.Get(context.Background(), dead.ID)
		return err == nil && in.State == jobs.StateFailed
	})
	deadRow := `#dead tr[data-id="` + dead.ID + `"]`
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.base+"/ui/jobs"),
		chromedp.WaitVisible(chromedp.CSS(deadRow+" button.requeue")),
	))
	require.Contains(t, text(t, ctx, deadRow+" td.err"), "failed on purpose")
	screenshot(t, ctx, "dashboard-jobs.png")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(deadRow+" button.requeue")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	))
	e.eventually("the requeued job succeeds", func() bool {
		in, err := e.jobs.Get(context.Background(), dead.ID)
		return err == nil && in.State == jobs.StateSucceeded
	})

	// Queues: asynqmon, served from the binary, renders its queues.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.base+"/ui/queues/"),
		waitJS(`document.body.innerText.includes("default")`),
	))
	screenshot(t, ctx, "dashboard-queues.png")
}
