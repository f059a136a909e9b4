package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of PoolConfig.
const (
	DefaultPoolMaxPerUser  = 4
	DefaultPoolIdleTimeout = time.Minute
)

// PoolConfig configures a Pool.
type PoolConfig struct {
	// MaxPerUser caps the sessions the pool holds (in use and idle) for
	// one user. It should not exceed the server's open-session quota
	// (sessiontable MaxSessionsPerOwner); when the server answers the
	// quota first, Acquire waits for a session of that user to come back
	// instead. Default 4.
	MaxPerUser int
	// IdleTimeout is how long a released session stays open unused before
	// the pool closes it. Default 1m.
	IdleTimeout time.Duration
}

// Pool keeps sessions open for many users on one privileged connection
// (its user needs the impersonate right) and hands them out per user:
// Acquire takes an idle session of the user or opens one with LoginAs,
// Release gives it back. It is safe for concurrent use.
type Pool struct {
	conn *Conn
	cfg  PoolConfig

	mu     sync.Mutex
	users  map[string]*userPool
	closed bool
	wake   chan struct{} // closed and replaced when a session comes back

	stop chan struct{}
	done chan struct{}
}

type userPool struct {
	open    int // sessions held: in use and idle
	opening int // LoginAs calls in flight
	limit   int // the server's quota, once it answered it; 0 unknown
	idle    []idleSession
}

// room reports whether the pool may open another session for the user.
func (up *userPool) room(max int) bool {
	if up.limit > 0 {
		max = min(max, up.limit)
	}
	return up.open+up.opening < max
}

type idleSession struct {
	s     *Session
	since time.Time
}

// NewPool returns a pool of sessions on conn; it closes idle sessions in
// the background until Close.
func NewPool(conn *Conn, cfg PoolConfig) (*Pool, error) {
	if conn == nil {
		return nil, fmt.Errorf("%w: NewPool needs a connection", ErrInvalid)
	}
	if cfg.MaxPerUser == 0 {
		cfg.MaxPerUser = DefaultPoolMaxPerUser
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultPoolIdleTimeout
	}
	if cfg.MaxPerUser < 0 || cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("%w: PoolConfig: MaxPerUser and IdleTimeout must not be negative", ErrInvalid)
	}
	p := &Pool{conn: conn, cfg: cfg, users: map[string]*userPool{}, wake: make(chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.reap()
	return p, nil
}

// Acquire hands out a session of user: an idle one, else a new one
// (LoginAs: ErrForbidden unless the connection may impersonate), else it
// waits until one is released or ctx is done.
func (p *Pool) Acquire(ctx context.Context, user string) (*Session, error) {
	if user == "" {
		return nil, fmt.Errorf("%w: Acquire needs a user", ErrInvalid)
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		up := p.users[user]
		if up == nil {
			up = &userPool{}
			p.users[user] = up
		}
		if n := len(up.idle); n > 0 {
			s := up.idle[n-1].s
			up.idle = up.idle[:n-1]
			p.mu.Unlock()
			return s, nil
		}
		wake := p.wake
		if up.room(p.cfg.MaxPerUser) {
			up.opening++
			p.mu.Unlock()
			s, err := p.conn.LoginAs(ctx, user)
			p.mu.Lock()
			up.opening--
			if err == nil {
				up.open++
				p.mu.Unlock()
				return s, nil
			}
			p.broadcast() // a waiter may try in its place
			quota := errors.Is(err, ErrQuota)
			if quota && up.open > 0 {
				// The server's quota is below MaxPerUser: hold no more than
				// now, and wait for one of ours to come back.
				up.limit = up.open
			}
			held := up.open + up.opening
			p.mu.Unlock()
			if !quota || held == 0 {
				return nil, fmt.Errorf("acquiring a session of %q: %w", user, err)
			}
		} else {
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("acquiring a session of %q: %w", user, ctx.Err())
		case <-wake:
		case <-p.stop:
		}
	}
}

// Release gives s back to the pool for its owner's next Acquire. Its
// buffered writes stay buffered in it. After Close, Release only forgets s
// (Close closed the idle sessions; close s yourself).
func (p *Pool) Release(s *Session) {
	if s == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	up := p.users[s.owner]
	if p.closed || up == nil {
		return
	}
	for _, is := range up.idle {
		if is.s == s {
			return // released twice: it must not be handed out twice
		}
	}
	up.idle = append(up.idle, idleSession{s: s, since: time.Now()})
	p.broadcast()
}

// broadcast wakes the Acquire calls that wait; p.mu is held.
func (p *Pool) broadcast() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// Discard tells the pool that s is gone (closed, or expired): the pool
// forgets it, and may open another for its owner.
func (p *Pool) Discard(s *Session) {
	if s == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if up := p.users[s.owner]; up != nil && up.open > 0 {
		up.open--
	}
	if !p.closed {
		p.broadcast()
	}
}

// Held is how many sessions the pool holds for user, in use and idle.
func (p *Pool) Held(user string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if up := p.users[user]; up != nil {
		return up.open
	}
	return 0
}

// reap closes the sessions idle for longer than IdleTimeout.
func (p *Pool) reap() {
	defer close(p.done)
	t := time.NewTicker(max(p.cfg.IdleTimeout/4, time.Millisecond))
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.stop
		cancel()
	}()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		type closing struct {
			up *userPool
			s  *Session
		}
		var old []closing
		p.mu.Lock()
		for _, up := range p.users {
			keep := up.idle[:0]
			for _, is := range up.idle {
				if time.Since(is.since) > p.cfg.IdleTimeout {
					old = append(old, closing{up, is.s})
				} else {
					keep = append(keep, is)
				}
			}
			up.idle = keep
		}
		p.mu.Unlock()
		// A session counts against the quota until the server has closed it.
		for _, c := range old {
			_ = c.s.Close(ctx) // gone already or not: the pool forgets it
			p.mu.Lock()
			c.up.open--
			p.broadcast()
			p.mu.Unlock()
		}
	}
}

// Close stops the pool and closes its idle sessions; sessions in use are
// the caller's to close. Acquire then fails with ErrClosed. It is safe to
// call twice.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var idle []*Session
	for _, up := range p.users {
		for _, is := range up.idle {
			idle = append(idle, is.s)
		}
		up.idle = nil
	}
	close(p.stop)
	p.mu.Unlock()
	<-p.done
	var errs []error
	for _, s := range idle {
		if err := s.Close(ctx); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
