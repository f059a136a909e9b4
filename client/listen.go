package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/sessionq/sessionq/api"
)

// Event is what a listener receives: a job of the session changed state
// (Type "job", Job set), or the session ended (Type "session.closed" or
// "session.expired"; the listener stops after it).
type Event struct {
	Type      string
	SessionID string
	Job       *Job
}

// Listener is a listener attached by Listen.
type Listener struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Close detaches the listener and waits until its callback has returned.
// It is safe to call twice.
func (l *Listener) Close() {
	l.cancel()
	<-l.done
}

// Done is closed when the listener stops: Close, its context done, or its
// session ended.
func (l *Listener) Done() <-chan struct{} { return l.done }

// Err is why the listener stopped, once Done is closed: nil after the
// session's end or Close, else the error.
func (l *Listener) Err() error {
	<-l.done
	return l.err
}

// Listen attaches fn as a listener under the context's session (flushed
// first): fn is called, one event at a time, for each job of the session
// that changes state and once when the session ends, with a context that
// carries that same session, so that what fn does acts in it. Only what
// the session may read arrives: the server filters. A dropped stream is
// opened again with backoff; the server then sends each job's state
// anew, and the listener passes on only those that changed since the last
// event it delivered for the job, so that no event is repeated.
//
// Listen returns once the stream is open; the listener runs until Close,
// ctx is done, or the session ends.
func (c *Conn) Listen(ctx context.Context, fn func(ctx context.Context, ev Event)) (*Listener, error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: Listen needs a function", ErrInvalid)
	}
	s, err := c.needSession(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	path := "/v1/sessions/" + url.PathEscape(s.id) + "/events"
	lctx, cancel := context.WithCancel(s.Activate(ctx))
	res, err := c.stream(lctx, nil, path, headerOutOfSession, "true")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("listening to session %s: %w", s.id, err)
	}
	l := &Listener{cancel: cancel, done: make(chan struct{})}
	st := &listenState{last: map[string]State{}}
	go func() {
		defer close(l.done)
		defer cancel()
		wait := c.cfg.backoff
		body := res.Body
		for {
			ended, err := st.read(lctx, body, s.id, fn)
			body.Close()
			if ended || lctx.Err() != nil {
				return
			}
			if err != nil && !errors.Is(err, ErrUnavailable) {
				l.err = err
				return
			}
			for {
				t := time.NewTimer(wait)
				select {
				case <-lctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				wait = min(wait*2, 2*time.Second)
				hdr := []string{headerOutOfSession, "true"}
				if st.lastID != "" {
					hdr = append(hdr, "Last-Event-ID", st.lastID)
				}
				r, err := c.stream(lctx, nil, path, hdr...)
				if err == nil {
					body, wait = r.Body, c.cfg.backoff
					break
				}
				if errors.Is(err, ErrNotFound) {
					// The session ended while the stream was down.
					fn(lctx, Event{Type: "session.closed", SessionID: s.id})
					return
				}
				if !errors.Is(err, ErrUnavailable) {
					l.err = fmt.Errorf("listening to session %s: %w", s.id, err)
					return
				}
			}
		}
	}()
	return l, nil
}

// listenState is what a listener delivered: each job's last state.
type listenState struct {
	last   map[string]State
	lastID string // the ID of the last job event: a reconnect resumes after it
}

// read delivers the events of one stream; ended is true after the
// session's end.
func (st *listenState) read(ctx context.Context, body io.Reader, sid string, fn func(context.Context, Event)) (ended bool, err error) {
	rerr := readSSE(body, func(ev sseEvent) bool {
		if ctx.Err() != nil {
			return false
		}
		switch ev.event {
		case "job":
			var je struct {
				Job Job `json:"job"`
			}
			if json.Unmarshal([]byte(ev.data), &je) != nil {
				return true
			}
			if ev.id != "" {
				// The server resumes after lastID: nothing repeats,
				// nothing is lost.
				st.lastID = ev.id
			} else if st.last[je.Job.ID] == je.Job.State {
				return true // a server without event IDs sent it again
			}
			st.last[je.Job.ID] = je.Job.State
			fn(ctx, Event{Type: "job", SessionID: sid, Job: &je.Job})
		case "session":
			var se api.SessionEndEvent
			_ = json.Unmarshal([]byte(ev.data), &se)
			fn(ctx, Event{Type: se.Type, SessionID: sid})
			ended = true
			return false
		}
		return true
	})
	if ended || ctx.Err() != nil {
		return ended, nil
	}
	return false, fmt.Errorf("%w: the event stream ended: %w", ErrUnavailable, rerr)
}
