package metrics_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/metrics"
	"github.com/sessionq/sessionq/internal/presence"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
)

// gauges gathers reg into name{label} -> value.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			k := f.GetName()
			for _, l := range m.GetLabel() {
				k += "{" + l.GetValue() + "}"
			}
			if g := m.GetGauge(); g != nil {
				out[k] = g.GetValue()
			}
		}
	}
	return out
}

// Fleet reads the backlog of every session with work, and names the
// largest ones only, up to its bound.
func TestFleet(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	ctx := context.Background()
	// No worker runs: every job stays unfinished.
	for s, n := range map[string]int{"big": 3, "small": 1, "mid": 2} {
		for range n {
			_, err := jc.Submit(ctx, "t", nil, jobs.Session(s), jobs.ProcessIn(time.Hour))
			require.NoError(t, err)
		}
	}
	reg := prometheus.NewRegistry()
	require.NoError(t, metrics.Register(reg, metrics.NewFleet(rdb, 2)))
	g := gauges(t, reg)
	require.Equal(t, 6.0, g["sessionq_backlog_jobs"])
	require.Equal(t, 3.0, g["sessionq_session_backlog{big}"])
	require.Equal(t, 2.0, g["sessionq_session_backlog{mid}"])
	require.NotContains(t, g, "sessionq_session_backlog{small}", "past the bound")
	require.Equal(t, 3.0, g["sessionq_sessions_with_work"])
	require.Equal(t, 0.0, g["sessionq_leases_held"])
	require.Equal(t, 0.0, g["sessionq_fleet_scrape_errors"])
}

// Failed commands are counted; redis.Nil is not.
func TestRedisErrors(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	reg := prometheus.NewRegistry()
	h, err := metrics.NewRedisErrors(reg)
	require.NoError(t, err)
	rdb.AddHook(h)
	ctx := context.Background()
	require.ErrorIs(t, rdb.Get(ctx, "missing").Err(), redis.Nil)
	require.Error(t, rdb.Do(ctx, "NOSUCHCOMMAND").Err())

	port, err := redistest.FreePort() // nothing listens there
	require.NoError(t, err)
	gone := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
	t.Cleanup(func() { _ = gone.Close() })
	gone.AddHook(h)
	require.Error(t, gone.Ping(ctx).Err())

	require.Equal(t, 1.0, testutil.ToFloat64(counter(t, reg, "other")))
	require.GreaterOrEqual(t, testutil.ToFloat64(counter(t, reg, "network")), 1.0)
	require.Equal(t, 0.0, testutil.ToFloat64(counter(t, reg, "timeout")))
}

func counter(t *testing.T, reg *prometheus.Registry, kind string) prometheus.Collector {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if f.GetName() == "sessionq_redis_errors_total" && m.GetLabel()[0].GetValue() == kind {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no sessionq_redis_errors_total{kind=%q}", kind)
	return nil
}

// A client asking for a TID that is taken (a 409 to it) is no Redis error,
// nor is a script Redis does not know yet (go-redis loads it and runs it
// again); a script that breaks, a wrong type and a server refusing writes
// are.
func TestRedisErrorsAreRedisOnly(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	reg := prometheus.NewRegistry()
	h, err := metrics.NewRedisErrors(reg)
	require.NoError(t, err)
	rdb.AddHook(h)
	ctx := context.Background()
	tab, err := sessiontable.New(rdb, sessiontable.Config{})
	require.NoError(t, err)
	_, err = tab.Create(ctx, sessiontable.Spec{TID: "term1"})
	require.NoError(t, err)
	_, err = tab.Create(ctx, sessiontable.Spec{TID: "term1"})
	require.ErrorIs(t, err, sessiontable.ErrTIDTaken)
	require.NoError(t, redis.NewScript("return 1").Run(ctx, rdb, nil).Err())
	p := rdb.Pipeline()
	redis.NewScript("return 2").EvalSha(ctx, p, nil)
	_, _ = p.Exec(ctx)
	require.Equal(t, 0.0, testutil.ToFloat64(counter(t, reg, "other")), "no Redis error so far")

	require.Error(t, redis.NewScript("return redis.call('NOSUCH')").Run(ctx, rdb, nil).Err())
	require.NoError(t, rdb.Set(ctx, "str", "x", 0).Err())
	require.Error(t, rdb.LPush(ctx, "str", "y").Err())
	require.Equal(t, 2.0, testutil.ToFloat64(counter(t, reg, "other")))
}

// A session head whose type no live worker handles is counted by queue and
// type; one a worker handles, a parked job and a session with no head are
// not; a worker joining for the type ends the count.
func TestJobsWaitingForHandler(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, presence.Publish(ctx, rdb, "w1", []string{"doc"}, time.Hour))
	for s, typ := range map[string]string{"a": "fax", "b": "fax", "c": "doc"} {
		_, err := jc.Submit(ctx, typ, nil, jobs.Session(s))
		require.NoError(t, err)
		_, err = jc.Submit(ctx, "fax", nil, jobs.Session(s)) // parked behind
		require.NoError(t, err)
	}
	_, err = jc.Submit(ctx, "fax", nil, jobs.Session("d"), jobs.Queue("low"))
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	require.NoError(t, metrics.Register(reg, metrics.NewFleet(rdb, 0)))
	g := gauges(t, reg)
	require.Equal(t, 2.0, g["sessionq_jobs_waiting_for_handler{default}{fax}"])
	require.Equal(t, 1.0, g["sessionq_jobs_waiting_for_handler{low}{fax}"])
	require.NotContains(t, g, "sessionq_jobs_waiting_for_handler{default}{doc}")
	require.Equal(t, 0.0, g["sessionq_fleet_scrape_errors"])

	require.NoError(t, presence.Publish(ctx, rdb, "w2", []string{"fax"}, time.Hour))
	g = gauges(t, reg)
	require.NotContains(t, g, "sessionq_jobs_waiting_for_handler{default}{fax}")
	require.NotContains(t, g, "sessionq_jobs_waiting_for_handler{low}{fax}")
}
