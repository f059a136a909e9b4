package client_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/client"
	"github.com/sessionq/sessionq/sessiontable"
)

// The pool reuses a user's sessions, and never holds more of one user's
// sessions than the server's quota, even when asked for more.
func TestPoolQuota(t *testing.T) {
	t.Parallel()
	const quota = 2
	st := testStack(t, stackOptions{quota: quota})
	ctx := context.Background()
	_, err := st.user(ctx, "alice", userRights...)
	require.NoError(t, err)
	root := st.dial(t, "root", "impersonate", "read:all", "write:all")
	p, err := client.NewPool(root, client.PoolConfig{MaxPerUser: 10, IdleTimeout: time.Hour})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close(ctx)) }()

	open := func() int {
		l, err := st.tbl.List(ctx, sessiontable.ListOptions{Owner: "alice"})
		require.NoError(t, err)
		return len(l)
	}
	s1, err := p.Acquire(ctx, "alice")
	require.NoError(t, err)
	require.Equal(t, "alice", s1.Owner())
	p.Release(s1)
	p.Release(s1) // twice: still one idle session
	s1again, err := p.Acquire(ctx, "alice")
	require.NoError(t, err)
	require.Same(t, s1, s1again, "reused")
	other, err := p.Acquire(ctx, "alice")
	require.NoError(t, err)
	require.NotSame(t, s1, other, "a session released twice is handed out once")
	p.Release(other)

	var wg sync.WaitGroup
	var most atomic.Int64
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				actx, cancel := context.WithTimeout(ctx, 20*time.Second)
				s, err := p.Acquire(actx, "alice")
				cancel()
				if err != nil {
					errs <- err
					return
				}
				if n := int64(p.Held("alice")); n > most.Load() {
					most.Store(n)
				}
				if err := root.SetParam(s.Activate(ctx), "k", "v"); err != nil {
					errs <- err
				}
				if err := root.Flush(s.Activate(ctx)); err != nil {
					errs <- err
				}
				p.Release(s)
			}
		}()
	}
	// s1 is held meanwhile: the others share the one left.
	p.Release(s1)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.LessOrEqual(t, most.Load(), int64(quota), "never more than the quota held")
	require.LessOrEqual(t, open(), quota)

	// Both held: the next Acquire waits, and fails when its context ends.
	a, err := p.Acquire(ctx, "alice")
	require.NoError(t, err)
	b, err := p.Acquire(ctx, "alice")
	require.NoError(t, err)
	short, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.Acquire(short, "alice")
	require.ErrorIs(t, err, context.Canceled)
	got := make(chan *client.Session)
	go func() {
		s, _ := p.Acquire(ctx, "alice")
		got <- s
	}()
	p.Release(b)
	require.Same(t, b, <-got)
	p.Release(a)
	p.Release(b)

	// A pool bound below the quota holds no more than its bound.
	p1, err := client.NewPool(root, client.PoolConfig{MaxPerUser: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, p1.Close(ctx)) }()
	_, err = st.user(ctx, "bob", userRights...)
	require.NoError(t, err)
	var wg1 sync.WaitGroup
	var most1 atomic.Int64
	for range 4 {
		wg1.Add(1)
		go func() {
			defer wg1.Done()
			for range 3 {
				s, err := p1.Acquire(ctx, "bob")
				if err != nil {
					return
				}
				l, _ := st.tbl.List(ctx, sessiontable.ListOptions{Owner: "bob"})
				if n := int64(len(l)); n > most1.Load() {
					most1.Store(n)
				}
				p1.Release(s)
			}
		}()
	}
	wg1.Wait()
	require.Equal(t, int64(1), most1.Load(), "bob's sessions on the server")
}

func TestPoolNeedsImpersonate(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	c := st.dial(t, "alice", userRights...)
	_, err := st.user(ctx, "bob", userRights...)
	require.NoError(t, err)
	p, err := client.NewPool(c, client.PoolConfig{})
	require.NoError(t, err)
	_, err = p.Acquire(ctx, "bob")
	require.ErrorIs(t, err, client.ErrForbidden)
	require.Equal(t, 0, p.Held("bob"))
	require.NoError(t, p.Close(ctx))
	_, err = p.Acquire(ctx, "bob")
	require.ErrorIs(t, err, client.ErrClosed)
	_, err = client.NewPool(c, client.PoolConfig{MaxPerUser: -1})
	require.ErrorIs(t, err, client.ErrInvalid)
}

// Idle sessions are closed after IdleTimeout, and the pool opens new ones.
func TestPoolClosesIdleSessions(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	_, err := st.user(ctx, "alice", userRights...)
	require.NoError(t, err)
	root := st.dial(t, "root", "impersonate", "read:all", "write:all")
	p, err := client.NewPool(root, client.PoolConfig{IdleTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close(ctx)) }()
	s, err := p.Acquire(ctx, "alice")
	require.NoError(t, err)
	p.Release(s)
	eventually(t, 20*time.Second, func() bool { return p.Held("alice") == 0 }, "the idle session to be closed")
	_, err = s.Info(ctx)
	require.ErrorIs(t, err, client.ErrNotFound, "closed on the server")
	s2, err := p.Acquire(ctx, "alice")
	require.NoError(t, err)
	require.NotEqual(t, s.ID(), s2.ID())
	p.Release(s2)
}
