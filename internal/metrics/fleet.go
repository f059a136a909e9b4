package metrics

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/presence"
)

// DefaultTopSessions is how many sessions Fleet names in
// sessionq_session_backlog.
const DefaultTopSessions = 10

// fleetScanMax bounds the sessions of the repair index one scrape reads.
const fleetScanMax = 100_000

// fleetTimeout bounds one scrape's Redis reads.
const fleetTimeout = 5 * time.Second

// Fleet is a collector of the fleet's state, read from Redis when scraped
// (never on a job's path): the backlog of sessions (total parked jobs, and
// the top sessions by backlog as a bounded gauge vector), the open
// sessions, the session leases held, the hot sessions, and the session
// heads that wait for a worker handling their type (by queue and type). Register it in
// one process of a fleet or a few (the gateway and the scheduler do): each
// scrape reads the repair index, O(sessions with work).
type Fleet struct {
	rdb redis.UniversalClient
	top int

	backlog, topBacklog, open, leases, hot, scanned, errs, noHandler *prometheus.Desc
}

var _ prometheus.Collector = (*Fleet)(nil)

// NewFleet returns a Fleet on rdb naming the top sessions (0:
// DefaultTopSessions).
func NewFleet(rdb redis.UniversalClient, top int) *Fleet {
	if top <= 0 {
		top = DefaultTopSessions
	}
	return &Fleet{rdb: rdb, top: top,
		backlog:    prometheus.NewDesc("sessionq_backlog_jobs", "Unfinished session jobs (parked, pending or running) over every session with work, from the repair index.", nil, nil),
		topBacklog: prometheus.NewDesc("sessionq_session_backlog", "Unfinished jobs of the sessions with the largest backlogs (at most the top 10 sessions).", []string{"session"}, nil),
		open:       prometheus.NewDesc("sessionq_sessions_open", "Open sessions in the session table.", nil, nil),
		leases:     prometheus.NewDesc("sessionq_leases_held", "Session leases held now (a job of the session runs).", nil, nil),
		hot:        prometheus.NewDesc("sessionq_hot_sessions", "Sessions reported hot (a large backlog on one session) and not yet forgotten.", nil, nil),
		scanned:    prometheus.NewDesc("sessionq_sessions_with_work", "Sessions in the repair index (with unfinished jobs) read by the last scrape.", nil, nil),
		errs:       prometheus.NewDesc("sessionq_fleet_scrape_errors", "1 when the last scrape could not read the fleet's state from Redis.", nil, nil),
		noHandler:  prometheus.NewDesc("sessionq_jobs_waiting_for_handler", "Sessions whose head job is dispatched (pending or retrying) but no live worker handles its type: it waits, holding its session's later jobs. By queue and type.", []string{"queue", "type"}, nil),
	}
}

// Describe sends the descriptors of Fleet's metrics.
func (f *Fleet) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{f.backlog, f.topBacklog, f.open, f.leases, f.hot, f.scanned, f.errs, f.noHandler} {
		ch <- d
	}
}

// Collect reads the fleet's state and sends it; on a Redis error it sends
// sessionq_fleet_scrape_errors 1 and nothing else.
func (f *Fleet) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	defer cancel()
	if err := f.collect(ctx, ch); err != nil {
		ch <- prometheus.MustNewConstMetric(f.errs, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(f.errs, prometheus.GaugeValue, 0)
}

type backlog struct {
	id string
	n  int64
}

func (f *Fleet) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	p := f.rdb.Pipeline()
	shards := make([]*redis.StringSliceCmd, keys.DueShards)
	for n := range shards {
		shards[n] = p.ZRange(ctx, keys.Due(n), 0, fleetScanMax/keys.DueShards-1)
	}
	open := p.ZCard(ctx, keys.Sessions)
	hot := p.HLen(ctx, keys.Hot)
	if _, err := p.Exec(ctx); err != nil {
		return err
	}
	var ids []string
	for _, s := range shards {
		ids = append(ids, s.Val()...)
	}
	runs, err := ledger.New(f.rdb).Runs(ctx, ids)
	if err != nil {
		return err
	}
	var total int64
	var held int
	all := make([]backlog, 0, len(ids))
	for i, id := range ids {
		n := runs[i].Backlog
		total += n
		if n > 0 {
			all = append(all, backlog{id, n})
		}
		if !runs[i].Until.IsZero() {
			held++
		}
	}
	if err := f.waitingForHandler(ctx, ids, runs, ch); err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b backlog) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.id, b.id)) })
	for _, b := range all[:min(f.top, len(all))] {
		ch <- prometheus.MustNewConstMetric(f.topBacklog, prometheus.GaugeValue, float64(b.n), b.id)
	}
	ch <- prometheus.MustNewConstMetric(f.backlog, prometheus.GaugeValue, float64(total))
	ch <- prometheus.MustNewConstMetric(f.open, prometheus.GaugeValue, float64(open.Val()))
	ch <- prometheus.MustNewConstMetric(f.leases, prometheus.GaugeValue, float64(held))
	ch <- prometheus.MustNewConstMetric(f.hot, prometheus.GaugeValue, float64(hot.Val()))
	ch <- prometheus.MustNewConstMetric(f.scanned, prometheus.GaugeValue, float64(len(ids)))
	return nil
}

// waitingForHandler sends sessionq_jobs_waiting_for_handler: of the
// sessions ids (runs their run states) with work and no live lease, the
// heads that are dispatched (pending or retrying) and whose type no live
// worker handles (package presence), by queue and type. It reads the heads
// of those sessions and each type's handlers once: no scan.
func (f *Fleet) waitingForHandler(ctx context.Context, ids []string, runs []ledger.RunState, ch chan<- prometheus.Metric) error {
	var idle []string
	for i, id := range ids {
		if runs[i].Backlog > 0 && runs[i].Until.IsZero() {
			idle = append(idle, id)
		}
	}
	heads, err := ledger.New(f.rdb).Heads(ctx, idle)
	if err != nil {
		return err
	}
	type qt struct{ queue, typ string }
	waiting := map[qt]int{}
	handled := map[string]bool{}
	for _, h := range heads {
		if h.State != ledger.StatePending && h.State != ledger.StateRetrying {
			continue
		}
		ok, seen := handled[h.Type]
		if !seen {
			ws, err := presence.Handlers(ctx, f.rdb, h.Type)
			if err != nil && !errors.Is(err, presence.ErrInvalid) {
				return err
			}
			ok = len(ws) > 0 || err != nil // a type no worker could publish: not ours to count
			handled[h.Type] = ok
		}
		if !ok {
			waiting[qt{h.Queue, h.Type}]++
		}
	}
	for k, n := range waiting {
		ch <- prometheus.MustNewConstMetric(f.noHandler, prometheus.GaugeValue, float64(n), k.queue, k.typ)
	}
	return nil
}

// RedisErrors is a go-redis hook that counts failed Redis commands
// (sessionq_redis_errors_total, by kind: network, timeout, other): errors of
// Redis itself only. Not counted: redis.Nil, cancelled contexts, and
// NOSCRIPT, Redis not knowing a script yet, which go-redis (redis.Script's
// Run) and the ledger answer by sending it (a Redis restarted or new, and
// the first run of each script of each process: a client's refused TID
// counted so), and CLIENT SETINFO unknown to a Redis before 7.2. A script's own refusals are replies, never errors (every
// script of sessionq answers a verdict word). It adds no round trip.
type RedisErrors struct {
	c *prometheus.CounterVec
}

var _ redis.Hook = (*RedisErrors)(nil)

// NewRedisErrors returns the hook, its counter registered with reg.
func NewRedisErrors(reg prometheus.Registerer) (*RedisErrors, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sessionq_redis_errors_total",
		Help: "Redis commands (or pipelines) that failed in Redis, by kind (network, timeout, other); redis.Nil and NOSCRIPT (a script sent again) not counted.",
	}, []string{"kind"})
	for _, k := range []string{"network", "timeout", "other"} {
		c.WithLabelValues(k)
	}
	if err := Register(reg, c); err != nil {
		return nil, err
	}
	return &RedisErrors{c: c}, nil
}

func (h *RedisErrors) count(err error) {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) || notFailed(err) {
		return
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		h.c.WithLabelValues("timeout").Inc()
	case ne != nil, errors.Is(err, redis.ErrClosed):
		h.c.WithLabelValues("network").Inc()
	default:
		var re redis.Error
		if errors.As(err, &re) {
			h.c.WithLabelValues("other").Inc()
			return
		}
		h.c.WithLabelValues("network").Inc()
	}
}

// notFailed says whether err, a reply of Redis, is one go-redis answers by
// itself: NOSCRIPT (it sends the script) and a Redis before 7.2 not knowing
// CLIENT SETINFO, sent as a new connection starts (ignored).
func notFailed(err error) bool {
	return redis.HasErrorPrefix(err, "NOSCRIPT") ||
		redis.HasErrorPrefix(err, "unknown subcommand") && strings.Contains(strings.ToLower(err.Error()), "'setinfo'")
}

// DialHook counts failed dials.
func (h *RedisErrors) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		h.count(err)
		return c, err
	}
}

// ProcessHook counts failed commands.
func (h *RedisErrors) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.count(err)
		return err
	}
}

// ProcessPipelineHook counts failed pipelines (once each).
func (h *RedisErrors) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.count(err)
		return err
	}
}
