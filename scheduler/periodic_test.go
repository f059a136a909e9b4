package scheduler

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/jobs"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable clock for the runners of a test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func at(hms string) time.Time {
	t, err := time.Parse(time.DateTime, "2030-01-01 "+hms)
	if err != nil {
		panic(err)
	}
	return t
}

func newRunner(t *testing.T, rdb redis.UniversalClient, c *clock, ps ...Periodic) *periodicRunner {
	t.Helper()
	r, err := newPeriodicRunner(rdb, ps, 2*time.Second, quietLog)
	require.NoError(t, err)
	r.now = c.now
	return r
}

// jobIDs lists every job in Redis.
func jobIDs(t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	require.NoError(t, err)
	list, err := c.List(context.Background(), jobs.ListOptions{Limit: 1000})
	require.NoError(t, err)
	var out []string
	for _, in := range list {
		out = append(out, in.ID)
	}
	return out
}

// Each tick is submitted once, by whichever runner looks first; a fire
// submitted again (a leader died before it recorded it) is the same job;
// after an outage only the latest tick within the catch-up window fires.
func TestPeriodicFiresEachTickOnce(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := t.Context()
	c := &clock{t: at("00:00:30")}
	p := Periodic{Name: "report", Every: time.Minute, Type: "doc.report", Payload: []byte("p"), Session: "nightly", CatchUp: 5 * time.Minute}
	a, b := newRunner(t, rdb, c, p), newRunner(t, rdb, c, p)

	require.NoError(t, a.run(ctx))
	require.Empty(t, jobIDs(t, rdb), "first sight fires from the next tick on")
	c.t = at("00:00:59")
	require.NoError(t, a.run(ctx))
	require.Empty(t, jobIDs(t, rdb))

	c.t = at("00:01:02")
	require.NoError(t, a.run(ctx))
	require.NoError(t, b.run(ctx))
	require.NoError(t, a.run(ctx))
	require.Equal(t, []string{PeriodicJobID(p, at("00:01:00"))}, jobIDs(t, rdb))
	in, err := a.jc.Get(ctx, PeriodicJobID(p, at("00:01:00")))
	require.NoError(t, err)
	require.Equal(t, "nightly", in.SessionID)
	require.Equal(t, "doc.report", in.Type)

	// A leader submits the 00:02 tick and dies before recording it: the
	// next one submits it again, and gets the same job.
	c.t = at("00:02:01")
	require.NoError(t, a.run(ctx))
	require.NoError(t, rdb.HSet(ctx, keys.Periodic("report"), "last", at("00:01:00").UnixMilli()).Err())
	require.NoError(t, b.run(ctx))
	require.Len(t, jobIDs(t, rdb), 2)

	// No leader from 00:02:01 to 00:10:30: the 00:10 tick fires once,
	// late; 00:03 to 00:09 are skipped.
	c.t = at("00:10:30")
	require.NoError(t, b.run(ctx))
	require.NoError(t, a.run(ctx))
	require.ElementsMatch(t, []string{
		PeriodicJobID(p, at("00:01:00")), PeriodicJobID(p, at("00:02:00")), PeriodicJobID(p, at("00:10:00")),
	}, jobIDs(t, rdb))

	list, err := ListPeriodic(ctx, rdb, []Periodic{p}, c.t)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, PeriodicInfo{
		Name: "report", Schedule: "every 1m0s", Type: "doc.report", Session: "nightly", Queue: "default",
		Next: at("00:11:00"), LastTick: at("00:10:00").Local(), LastJob: PeriodicJobID(p, at("00:10:00")), LastFire: at("00:10:30").Local(),
	}, list[0])
}

// A missed tick older than the catch-up window is skipped; cron specs fire
// on their ticks.
func TestPeriodicSkipsStaleTicks(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := t.Context()
	c := &clock{t: at("00:30:00")}
	p := Periodic{Name: "hourly", Spec: "0 * * * *", Type: "t", CatchUp: 2 * time.Minute}
	r := newRunner(t, rdb, c, p)
	require.NoError(t, r.run(ctx))
	c.t = at("01:01:00")
	require.NoError(t, r.run(ctx))
	c.t = at("03:30:00") // 02:00 and 03:00 missed, both too old
	require.NoError(t, r.run(ctx))
	c.t = at("04:00:10")
	require.NoError(t, r.run(ctx))
	require.ElementsMatch(t, []string{PeriodicJobID(p, at("01:00:00")), PeriodicJobID(p, at("04:00:00"))}, jobIDs(t, rdb))
}

func TestPeriodicSchedules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    Periodic
		from string
		want string
	}{
		{Periodic{Every: time.Minute}, "00:00:30", "00:01:00"},
		{Periodic{Every: time.Minute}, "00:01:00", "00:02:00"},
		{Periodic{Every: 7 * time.Second}, "00:00:00", "00:00:05"}, // multiples of 7s since the epoch
		{Periodic{Spec: "@every 1m"}, "00:00:30", "00:01:00"},
		{Periodic{Spec: "*/15 * * * * *"}, "00:00:16", "00:00:30"},
		{Periodic{Spec: "30 2 * * *"}, "00:00:00", "02:30:00"},
		{Periodic{Spec: "@hourly"}, "00:00:00", "01:00:00"},
	} {
		tc.p.Name, tc.p.Type = "n", "t"
		s, err := tc.p.parse()
		require.NoError(t, err, "%+v", tc.p)
		require.Equal(t, at(tc.want), s.Next(at(tc.from)), "%+v", tc.p)
	}
}

func TestPeriodicInvalid(t *testing.T) {
	t.Parallel()
	ok := Periodic{Name: "n", Type: "t", Every: time.Minute}
	for _, tc := range []struct {
		edit func(*Periodic)
		want string
	}{
		{func(p *Periodic) { p.Name = "" }, "name"},
		{func(p *Periodic) { p.Name = "a{b}" }, "name"},
		{func(p *Periodic) { p.Type = "" }, "job type"},
		{func(p *Periodic) { p.Spec = "* * * * *" }, "not both"},
		{func(p *Periodic) { p.Every = 0 }, "give a cron spec or an interval"},
		{func(p *Periodic) { p.Every = 500 * time.Millisecond }, "shorter than 1s"},
		{func(p *Periodic) { p.Every, p.Spec = 0, "61 * * * *" }, "cron spec"},
		{func(p *Periodic) { p.Every, p.Spec = 0, "TZ=" }, "malformed"}, // robfig/cron panics on it
		{func(p *Periodic) { p.Session = "a b" }, "session ID"},
		{func(p *Periodic) { p.Queue = "a:b" }, "queue"},
		{func(p *Periodic) { p.CatchUp = -time.Second }, "negative"},
	} {
		p := ok
		tc.edit(&p)
		require.ErrorContains(t, p.Validate(), tc.want)
	}
	require.NoError(t, ok.Validate())
	rdb, _ := redistest.Client(t)
	_, err := New(rdb, Config{Periodic: []Periodic{ok, ok}})
	require.ErrorContains(t, err, "named twice")
	short := ok
	short.CatchUp = time.Second
	_, err = New(rdb, Config{Periodic: []Periodic{short}})
	require.ErrorContains(t, err, "shorter than twice the interval")
}

// A schedule from a config file never panics the scheduler, and a valid
// one gives ticks that move forward.
func FuzzPeriodicSpec(f *testing.F) {
	for _, s := range []string{"30 2 * * *", "@every 1m", "*/15 * * * * *", "@hourly", "CRON_TZ=Europe/Paris 0 9 * * 1-5", "61 * * * *", "@every -1s", "TZ=", "0 0 31 2 *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		p := Periodic{Name: "n", Type: "t", Spec: spec}
		s, err := p.parse()
		if err != nil {
			return
		}
		from := at("00:00:00")
		if next := s.Next(from); !next.IsZero() {
			require.True(t, next.After(from), "spec %q: next %s not after %s", spec, next, from)
		}
	})
}
