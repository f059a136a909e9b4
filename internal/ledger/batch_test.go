package ledger_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/ledger"
	"github.com/sessionq/sessionq/internal/redistest"
)

// gate is a go-redis hook that holds the first pipeline of scripts sent
// through the client until release is closed, so that the calls made meanwhile queue
// in the batcher and go together in the next pipeline.
type gate struct {
	once    sync.Once
	held    chan struct{} // closed when the first pipeline is held
	release chan struct{}
	mu      sync.Mutex
	sizes   []int // commands per pipeline, in order
}

func newGate() *gate { return &gate{held: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !hasScript(cmds) { // a new connection's handshake
			return next(ctx, cmds)
		}
		g.once.Do(func() {
			close(g.held)
			<-g.release
		})
		g.mu.Lock()
		g.sizes = append(g.sizes, len(cmds))
		g.mu.Unlock()
		return next(ctx, cmds)
	}
}

// submitLone submits job j<i> alone in session s<i>, for i in [0, n).
func submitLone(t *testing.T, l *ledger.Ledger, n int) {
	t.Helper()
	for i := range n {
		s, id := "s"+strconv.Itoa(i), "j"+strconv.Itoa(i)
		r, err := l.Submit(context.Background(), s, id, fields(id), ledger.SubmitOptions{IndexTTL: time.Hour})
		require.NoError(t, err)
		require.Equal(t, ledger.Dispatch, r.Verdict)
	}
}

// Calls made while a pipeline is in flight go together in the next one,
// and each gets its own reply: the lease of its own session.
func TestBatchedCallsShareAPipeline(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	submitLone(t, ledger.New(rdb), 10)
	// Redis knows the acquire script after this one (no NOSCRIPT below).
	_, err := ledger.New(rdb).Acquire(context.Background(), "s9", "j9", 1, "w", time.Minute)
	require.NoError(t, err)
	g := newGate()
	rdb.AddHook(g)
	l := ledger.New(rdb).Batched(ledger.BatchConfig{MaxInFlight: 1})
	ctx := context.Background()

	res := make([]ledger.AcquireResult, 9)
	errs := make([]error, 9)
	acquire := func(i int) func() {
		return func() {
			res[i], errs[i] = l.Acquire(ctx, "s"+strconv.Itoa(i), "j"+strconv.Itoa(i), 1, "w", time.Minute)
		}
	}
	var rest []func()
	for i := 1; i < 9; i++ {
		rest = append(rest, acquire(i))
	}
	// The first call is in flight alone; the others queue behind it.
	together(t, l, g, acquire(0), rest...)

	for i := range 9 {
		require.NoError(t, errs[i], "call %d", i)
		require.Equal(t, ledger.OK, res[i].Verdict, "call %d", i)
		require.Equal(t, "j"+strconv.Itoa(i), res[i].Job.ID)
		require.Equal(t, "s"+strconv.Itoa(i), res[i].Job.Session)
	}
	p, c := l.BatchStats()
	require.EqualValues(t, 9, c)
	require.EqualValues(t, 2, p, "the first call alone, then the eight that came meanwhile in one pipeline")
	g.mu.Lock()
	defer g.mu.Unlock()
	require.Equal(t, []int{2, 16}, g.sizes, "each acquire is its repair-index rider and its script")
}

// Each call in a pipeline is still its script: of many acquires of one
// session's head job in one pipeline, one takes the lease; of finishes with
// a stale and the current token in one pipeline, only the current one
// counts.
func TestBatchKeepsEachScriptAtomicAndFenced(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	plain := ledger.New(rdb)
	_, err := plain.Submit(ctx, "s", "a", fields("a"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)
	_, err = plain.Submit(ctx, "s", "b", fields("b"), ledger.SubmitOptions{IndexTTL: time.Hour})
	require.NoError(t, err)

	g := newGate()
	rdb.AddHook(g)
	l := ledger.New(rdb).Batched(ledger.BatchConfig{MaxInFlight: 1})
	// A call to another session holds the pipeline while the duplicates queue.
	hold := func() { _, _ = l.Renew(ctx, "other", "x", 1, time.Second) }
	const dup = 8
	verdicts := make([]string, dup)
	tokens := make([]int64, dup)
	var acquires []func()
	for i := range dup {
		acquires = append(acquires, func() {
			r, err := l.Acquire(ctx, "s", "a", 1, "w"+strconv.Itoa(i), time.Minute)
			if err != nil {
				verdicts[i] = err.Error()
				return
			}
			verdicts[i] = string(r.Verdict)
			if r.Job != nil {
				tokens[i] = r.Job.Token
			}
		})
	}
	together(t, l, g, hold, acquires...)
	ok := 0
	var tok int64
	for i, v := range verdicts {
		switch ledger.Verdict(v) {
		case ledger.OK:
			ok++
			tok = tokens[i]
		case ledger.Busy:
		default:
			t.Fatalf("acquire %d: %q", i, v)
		}
	}
	require.Equal(t, 1, ok, "one lease out of %v", verdicts)
	_, calls := l.BatchStats()
	require.EqualValues(t, 1+dup, calls)

	// Stale and current finishes of a, in one pipeline.
	g2 := newGate()
	rdb.AddHook(g2)
	stale := make([]ledger.FinishResult, 4)
	var cur ledger.FinishResult
	var curErr error
	var finishes []func()
	for i := range stale {
		finishes = append(finishes, func() {
			stale[i], _ = l.Finish(ctx, "s", "a", tok-1-int64(i), ledger.Outcome{OK: true}, opts)
		})
	}
	finishes = append(finishes, func() {
		cur, curErr = l.Finish(ctx, "s", "a", tok, ledger.Outcome{OK: true, Text: "done"}, opts)
	})
	together(t, l, g2, hold, finishes...)
	require.NoError(t, curErr)
	for i, s := range stale {
		require.Equal(t, ledger.Stale, s.Verdict, "stale finish %d", i)
	}
	require.Equal(t, ledger.Finished, cur.Verdict)
	require.Equal(t, ledger.StateSucceeded, cur.State)
	require.Equal(t, ledger.Run, cur.Next, "b runs inline after a")
	require.Equal(t, "b", cur.Run.ID)
	res, err := rdb.HGet(ctx, keys.Job("s", "a"), "res").Result()
	require.NoError(t, err)
	require.Equal(t, "done", res)
}

func hasScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if n := c.Name(); n == "evalsha" || n == "eval" {
			return true
		}
	}
	return false
}

// together runs first and waits until g holds its pipeline, then runs each
// of rest in a goroutine of its own and waits until they all wait in l's
// queue; then it lets the held pipeline go and waits for every call to
// return. So rest go to Redis together, in the pipeline after first's.
func together(t *testing.T, l *ledger.Ledger, g *gate, first func(), rest ...func()) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(first)
	<-g.held
	for _, f := range rest {
		wg.Go(f)
	}
	waitQueue(t, l, len(rest))
	close(g.release)
	wg.Wait()
}

// waitQueue waits until n calls wait in the batcher's queue, or fails the
// test after a deadline.
func waitQueue(t *testing.T, l *ledger.Ledger, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return l.BatchQueued() >= n }, 10*time.Second, time.Millisecond,
		"%d calls queued", n)
}

// A call that fails in a pipeline fails alone: a script that errors (here
// on a key of the wrong type) and a script Redis does not know (NOSCRIPT,
// sent again alone with EVAL) leave the other calls of their pipeline
// their replies.
func TestBatchFailureStaysWithItsCall(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	submitLone(t, ledger.New(rdb), 6)
	// Session s5's run hash is a string: its acquire script fails.
	require.NoError(t, rdb.Set(ctx, keys.Run("s5"), "not a hash", 0).Err())

	g := newGate()
	rdb.AddHook(g)
	l := ledger.New(rdb).Batched(ledger.BatchConfig{MaxInFlight: 1})
	res := make([]ledger.AcquireResult, 6)
	errs := make([]error, 6)
	acquire := func(i int) func() {
		return func() {
			res[i], errs[i] = l.Acquire(ctx, "s"+strconv.Itoa(i), "j"+strconv.Itoa(i), 1, "w", time.Minute)
		}
	}
	together(t, l, g, acquire(0), acquire(1), acquire(2), acquire(3), acquire(4), acquire(5))
	for i := range 5 {
		require.NoError(t, errs[i], "call %d", i)
		require.Equal(t, ledger.OK, res[i].Verdict, "call %d", i)
	}
	require.Error(t, errs[5])
	require.Contains(t, errs[5].Error(), "WRONGTYPE")
	p, _ := l.BatchStats()
	require.EqualValues(t, 2, p, "the failing call went in the pipeline of the others")
}

// A Redis that lost its scripts (SCRIPT FLUSH, a restart) answers NOSCRIPT
// to the calls of a pipeline: each goes again alone with EVAL and succeeds.
func TestBatchAfterScriptFlush(t *testing.T) {
	t.Parallel()
	srv := redistest.Spawn(t, redistest.SpawnOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	submitLone(t, ledger.New(rdb), 10)
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	l := ledger.New(rdb).Batched(ledger.BatchConfig{MaxInFlight: 1})
	var wg sync.WaitGroup
	errs := make([]error, 10)
	res := make([]ledger.AcquireResult, 10)
	for i := range 10 {
		wg.Go(func() {
			res[i], errs[i] = l.Acquire(ctx, "s"+strconv.Itoa(i), "j"+strconv.Itoa(i), 1, "w", time.Minute)
		})
	}
	wg.Wait()
	for i := range 10 {
		require.NoError(t, errs[i])
		require.Equal(t, ledger.OK, res[i].Verdict)
	}
}

// A call whose context ends while it waits in the queue is not sent: it
// changes nothing, and its caller gets the context's error.
func TestBatchCallGivenUpIsNotSent(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	ctx := context.Background()
	submitLone(t, ledger.New(rdb), 2)
	g := newGate()
	rdb.AddHook(g)
	l := ledger.New(rdb).Batched(ledger.BatchConfig{MaxInFlight: 1})
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = l.Acquire(ctx, "s0", "j0", 1, "w", time.Minute) })
	<-g.held
	cctx, cancel := context.WithCancel(ctx)
	var err error
	wg.Go(func() { _, err = l.Acquire(cctx, "s1", "j1", 1, "w", time.Minute) })
	waitQueue(t, l, 1)
	cancel()
	require.Eventually(t, func() bool { return l.BatchQueued() == 0 }, 10*time.Second, time.Millisecond)
	close(g.release)
	wg.Wait()
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	st, err := rdb.HGet(ctx, keys.Job("s1", "j1"), "state").Result()
	require.NoError(t, err)
	require.Equal(t, "pending", st, "a call given up while queued is never sent")
	_, calls := l.BatchStats()
	require.EqualValues(t, 1, calls)
}
