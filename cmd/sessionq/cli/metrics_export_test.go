package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

// scrape GETs a /metrics page and returns the names of its metric families.
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	code, body := get(t, url)
	require.Equal(t, http.StatusOK, code, url)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, url)
	names := map[string]bool{}
	for n := range fams {
		names[n] = true
	}
	return names
}

var metricName = regexp.MustCompile(`\b(?:sessionq|asynq)_[a-z_]+\b`)

// exported reports whether name (a family, or a histogram's _bucket, _sum
// or _count series) is in names.
func exported(names map[string]bool, name string) bool {
	if names[name] {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok && names[b] {
			return true
		}
	}
	return false
}

// A real worker, scheduler and gateway (the commands, in process) on a real
// Redis export every metric that the Grafana dashboard queries and the
// README lists.
func TestMetricsExported(t *testing.T) {
	t.Parallel()
	rdb, url := redistest.Client(t)
	port := func() string {
		p, err := redistest.FreePort()
		require.NoError(t, err)
		return "127.0.0.1:" + strconv.Itoa(p)
	}
	wAddr, sAddr, gAddr, gmAddr := port(), port(), port(), port()
	background(t, "--redis", url, "worker", "--metrics-addr", wAddr, "--exec", "echo=cat")
	background(t, "--redis", url, "scheduler", "--metrics-addr", sAddr)
	background(t, "--redis", url, "serve", "--addr", gAddr, "--metrics-addr", gmAddr)
	for _, a := range []string{wAddr, sAddr, gAddr} {
		eventually(t, 20*time.Second, func() bool {
			res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + a + "/readyz")
			if err != nil {
				return false
			}
			_ = res.Body.Close()
			return res.StatusCode == http.StatusOK
		}, a+" did not become ready")
	}

	// Work: a plain job, a session whose jobs hand off inline, and a
	// session whose head waits an hour (its backlog stays).
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	ctx := context.Background()
	plain, err := jc.Submit(ctx, "echo", []byte("hi"))
	require.NoError(t, err)
	var last string
	for range 3 {
		s, err := jc.Submit(ctx, "echo", []byte("x"), jobs.Session("metrics-s1"))
		require.NoError(t, err)
		last = s.ID
	}
	_, err = jc.Submit(ctx, "echo", nil, jobs.Session("metrics-s2"), jobs.ProcessIn(time.Hour))
	require.NoError(t, err)
	_, err = jc.Submit(ctx, "echo", nil, jobs.Session("metrics-s2"))
	require.NoError(t, err)
	for _, id := range []string{plain.ID, last} {
		eventually(t, 30*time.Second, func() bool {
			in, err := jc.Get(ctx, id)
			return err == nil && in.State == jobs.StateSucceeded
		}, "job "+id+" did not succeed")
	}

	names := map[string]bool{}
	worker := scrape(t, "http://"+wAddr+"/metrics")
	for _, m := range []string{"sessionq_handoffs_total", "sessionq_job_wait_seconds", "sessionq_redis_errors_total", "sessionq_job_duration_seconds"} {
		require.True(t, worker[m], "the worker exports %s", m)
	}
	for n := range worker {
		names[n] = true
	}
	for n := range scrape(t, "http://"+sAddr+"/metrics") {
		names[n] = true
	}
	gw := scrape(t, "http://"+gmAddr+"/metrics")
	for _, m := range []string{"sessionq_backlog_jobs", "sessionq_session_backlog", "asynq_queue_size", "sessionq_gateway_requests_total"} {
		require.True(t, gw[m], "the gateway exports %s", m)
	}
	for n := range gw {
		names[n] = true
	}

	b, err := os.ReadFile("../../../deploy/grafana/sessionq.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	queried := 0
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			ms := metricName.FindAllString(tg.Expr, -1)
			require.NotEmpty(t, ms, "%s: %s names no metric", p.Title, tg.Expr)
			for _, m := range ms {
				require.True(t, exported(names, m), "Grafana panel %q queries %s, which no process exports", p.Title, m)
				queried++
			}
		}
	}
	require.Greater(t, queried, 20)

	readme, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n### Metrics\n")
	require.True(t, ok, "the README has a Metrics list")
	section, _, _ = strings.Cut(section, "\n#")
	listed := metricName.FindAllString(section, -1)
	require.Greater(t, len(listed), 20)
	for _, m := range listed {
		require.True(t, exported(names, m), "the README lists %s, which no process exports", m)
	}
}
