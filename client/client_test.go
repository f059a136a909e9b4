package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/client"
	"github.com/sessionq/sessionq/sessiontable"
)

var userRights = []string{"read:own", "write:own", "submit:default/*"}

func TestDial(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	c := st.dial(t, "alice", userRights...)
	require.NotEmpty(t, c.Session().ID())
	require.Equal(t, "alice", c.Session().Owner())

	// With a password: Dial logs in first.
	c2, err := client.Dial(ctx, st.url, client.Password("alice", "pw-alice"))
	require.NoError(t, err)
	require.NoError(t, c2.Close(ctx))
	require.NoError(t, c2.Close(ctx), "twice")
	_, err = c2.Params(ctx)
	require.ErrorIs(t, err, client.ErrClosed)

	for name, creds := range map[string]client.Credentials{
		"a wrong token":    client.Token("nope"),
		"a wrong password": client.Password("alice", "wrong"),
		"an unknown user":  client.Password("nobody", "pw"),
	} {
		_, err := client.Dial(ctx, st.url, creds)
		require.ErrorIs(t, err, client.ErrUnauthorized, name)
		var ce *client.Error
		require.ErrorAs(t, err, &ce, name)
		require.Equal(t, "unauthenticated", ce.Code)
		require.NotContains(t, err.Error(), "wrong\"", "no password in errors")
	}
	_, err = client.Dial(ctx, "ftp://x", client.Token("t"))
	require.ErrorIs(t, err, client.ErrInvalid)
	_, err = client.Dial(ctx, st.url, client.Token(""))
	require.ErrorIs(t, err, client.ErrInvalid)
	// Nobody listens: unavailable, after the retries.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = client.Dial(ctx, "http://"+addr, client.Password("a", "b"), client.Retries(1, time.Millisecond))
	require.ErrorIs(t, err, client.ErrUnavailable)
}

func TestLoginAndLoginAs(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	c := st.dial(t, "alice", userRights...)
	_, err := st.user(ctx, "bob", userRights...)
	require.NoError(t, err)

	// Without impersonate: forbidden, and nothing opened.
	_, err = c.LoginAs(ctx, "bob")
	require.ErrorIs(t, err, client.ErrForbidden)
	l, err := st.tbl.List(ctx, sessiontable.ListOptions{Owner: "bob"})
	require.NoError(t, err)
	require.Empty(t, l)

	// With bob's password: a session of bob's on alice's connection.
	_, err = c.Login(ctx, "bob", "wrong")
	require.ErrorIs(t, err, client.ErrForbidden)
	sb, err := c.Login(ctx, "bob", "pw-bob")
	require.NoError(t, err)
	require.Equal(t, "bob", sb.Owner())
	// alice may read only her own: bob's session is hers to use, not to read.
	_, err = sb.Info(ctx)
	require.ErrorIs(t, err, client.ErrNotFound)

	// With impersonate.
	root := st.dial(t, "root", "impersonate", "read:all", "write:all")
	sb2, err := root.LoginAs(ctx, "bob")
	require.NoError(t, err)
	require.Equal(t, "bob", sb2.Owner())

	// Establish: create bound to a TID, then find it.
	s1, err := c.Establish(ctx, client.Create(), client.TID("ws-1"))
	require.NoError(t, err)
	s2, err := c.Establish(ctx, client.TID("ws-1"))
	require.NoError(t, err)
	require.Equal(t, s1.ID(), s2.ID())
	_, err = c.Establish(ctx, client.Create(), client.TID("ws-1"))
	require.ErrorIs(t, err, client.ErrConflict)
	_, err = c.Establish(ctx)
	require.ErrorIs(t, err, client.ErrInvalid)

	require.NoError(t, s1.Close(ctx))
	_, err = s1.Info(ctx)
	require.ErrorIs(t, err, client.ErrNotFound)
	require.ErrorIs(t, s1.Close(ctx), client.ErrNotFound)
}

// Two goroutines with two contexts act in two sessions at once, and never
// see each other's data.
func TestActivationTwoSessionsAtOnce(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		_, err := st.user(ctx, u, userRights...)
		require.NoError(t, err)
	}
	// root reads and writes all; in a session it reads only what the
	// session's owner may read too.
	root := st.dial(t, "root", "impersonate", "read:all", "write:all")
	sa, err := root.LoginAs(ctx, "alice")
	require.NoError(t, err)
	sb, err := root.LoginAs(ctx, "bob")
	require.NoError(t, err)
	require.Nil(t, client.SessionFrom(ctx))
	actx, bctx := sa.Activate(ctx), sb.Activate(ctx)
	require.Same(t, sa, client.SessionFrom(actx))

	var wg sync.WaitGroup
	jobIDs := make([]string, 2)
	errs := make([]error, 2)
	for i, c := range []context.Context{actx, bctx} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = func() error {
				who := client.SessionFrom(c).Owner()
				for n := range 5 {
					if err := root.SetParam(c, "who", who); err != nil {
						return err
					}
					if err := root.SetParam(c, "only-"+who, "x"); err != nil {
						return err
					}
					sub, err := root.Submit(c, "param", []byte("who"))
					if err != nil {
						return err
					}
					if sub.SessionID != client.SessionFrom(c).ID() {
						return errors.New("submitted in the wrong session")
					}
					jobIDs[i] = sub.ID
					j, err := root.Wait(c, sub.ID)
					if err != nil {
						return err
					}
					if string(j.Result) != who || j.Owner != who {
						return errors.New(who + " saw " + string(j.Result) + " in round " + string(rune('0'+n)))
					}
					m, err := root.Params(c)
					if err != nil {
						return err
					}
					for k := range m {
						if k != "who" && k != "only-"+who {
							return errors.New(who + " sees " + k)
						}
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	// Each session may not read the other's jobs; the connection session
	// (root's own) holds no parameter.
	_, err = root.Job(actx, jobIDs[1])
	require.ErrorIs(t, err, client.ErrNotFound)
	_, err = root.Job(bctx, jobIDs[0])
	require.ErrorIs(t, err, client.ErrNotFound)
	j, err := root.Job(actx, jobIDs[0])
	require.NoError(t, err)
	require.Equal(t, client.StateSucceeded, j.State)
	m, err := root.Params(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}

// Buffered writes are invisible to the server before Flush, all visible
// after, in one request; a read of a buffered key needs no request.
func TestBufferedWrites(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	c := st.dial(t, "alice", userRights...)
	sid := c.Session().ID()
	require.NoError(t, c.SetParam(ctx, "gone", "soon"))
	require.NoError(t, c.Flush(ctx))
	require.Equal(t, map[string]string{"gone": "soon"}, st.serverParams(t, sid))

	before := c.Requests()
	require.NoError(t, c.SetParam(ctx, "a", "1"))
	require.NoError(t, c.SetParam(ctx, "b", "2"))
	require.NoError(t, c.SetParam(ctx, "a", "3"))
	require.NoError(t, c.DeleteParam(ctx, "gone"))
	require.NoError(t, c.DeleteParam(ctx, "b"))
	require.NoError(t, c.SetParam(ctx, "b", "4"))
	v, err := c.Param(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "3", v)
	_, err = c.Param(ctx, "gone")
	require.ErrorIs(t, err, client.ErrNotFound)
	require.Equal(t, before, c.Requests(), "no request before Flush")
	require.Equal(t, 3, c.Buffered(ctx))
	require.Equal(t, map[string]string{"gone": "soon"}, st.serverParams(t, sid), "nothing visible before Flush")

	require.NoError(t, c.Flush(ctx))
	require.Equal(t, before+1, c.Requests(), "one request")
	require.Equal(t, map[string]string{"a": "3", "b": "4"}, st.serverParams(t, sid))
	require.Equal(t, 0, c.Buffered(ctx))
	require.NoError(t, c.Flush(ctx))
	require.Equal(t, before+1, c.Requests(), "an empty flush sends nothing")

	// A bad key is refused at once and buffers nothing.
	require.ErrorIs(t, c.SetParam(ctx, "a b", "x"), client.ErrInvalid)
	require.Equal(t, 0, c.Buffered(ctx))

	// A read the buffer cannot answer flushes first.
	require.NoError(t, c.SetParam(ctx, "c", "5"))
	v, err = c.Param(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "3", v)
	require.Equal(t, map[string]string{"a": "3", "b": "4", "c": "5"}, st.serverParams(t, sid))

	// A value the server refuses (too long) fails the flush as a whole:
	// nothing of it applied, and the buffer dropped.
	require.NoError(t, c.SetParam(ctx, "d", "6"))
	require.NoError(t, c.SetParam(ctx, "big", string(make([]byte, 1<<20))))
	require.ErrorIs(t, c.Flush(ctx), client.ErrInvalid)
	require.Equal(t, map[string]string{"a": "3", "b": "4", "c": "5"}, st.serverParams(t, sid))
	require.Equal(t, 0, c.Buffered(ctx))
}

// A submit flushes the session's buffer first: the job sees the write.
func TestSubmitFlushesFirst(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	c := st.dial(t, "alice", userRights...)
	require.NoError(t, c.SetParam(ctx, "lang", "fr"))
	sub, err := c.Submit(ctx, "param", []byte("lang"))
	require.NoError(t, err)
	require.Equal(t, 0, c.Buffered(ctx))
	j, err := c.Wait(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, client.StateSucceeded, j.State)
	require.Equal(t, "fr", string(j.Result))

	// Jobs: forbidden types, cancel, idempotency.
	_, err = c.Submit(ctx, "param", nil, client.Queue("other"))
	require.ErrorIs(t, err, client.ErrForbidden)
	blk, err := c.Submit(ctx, "block", nil, client.NoSession(), client.IdempotencyKey("k1"))
	require.NoError(t, err)
	again, err := c.Submit(ctx, "block", nil, client.NoSession(), client.IdempotencyKey("k1"))
	require.NoError(t, err)
	require.True(t, again.Existing)
	require.Equal(t, blk.ID, again.ID)
	j, err = c.Job(ctx, blk.ID)
	require.NoError(t, err)
	require.Equal(t, "block", j.Type)
	if state, err := c.Cancel(ctx, blk.ID); err == nil {
		require.Equal(t, client.StateCancelled, state)
	} else {
		// It was running already: a job without a session cannot be
		// cancelled then.
		require.ErrorIs(t, err, client.ErrConflict)
	}
	_, err = c.Job(ctx, "no-such-job")
	require.ErrorIs(t, err, client.ErrNotFound)
}

func TestFiles(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	c := st.dial(t, "alice", userRights...)
	data := []byte{0, 1, 2, 0xff}
	require.NoError(t, c.PutFile(ctx, "in.bin", data))
	got, err := c.File(ctx, "in.bin")
	require.NoError(t, err)
	require.Equal(t, data, got)
	fs, err := c.Files(ctx)
	require.NoError(t, err)
	require.Equal(t, []client.File{{Name: "in.bin", Size: 4}}, fs)
	require.NoError(t, c.DeleteFile(ctx, "in.bin"))
	_, err = c.File(ctx, "in.bin")
	require.ErrorIs(t, err, client.ErrNotFound)
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, client.CodeFileNotFound, ce.Code)
}

// dropper is an HTTP client whose connections can all be cut at once.
type dropper struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *dropper) client(t testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			d.mu.Lock()
			d.conns = append(d.conns, c)
			d.mu.Unlock()
		}
		return c, err
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (d *dropper) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		_ = c.Close()
	}
	d.conns = nil
}

// recorder collects a listener's events, and the session of the context
// each came with.
type recorder struct {
	mu     sync.Mutex
	events []client.Event
	sess   []*client.Session
}

func (r *recorder) listen(ctx context.Context, ev client.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.sess = append(r.sess, client.SessionFrom(ctx))
}

// count is how many events say job id reached state.
func (r *recorder) count(id string, state client.State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if ev.Job != nil && ev.Job.ID == id && ev.Job.State == state {
			n++
		}
	}
	return n
}

// A listener attached under bob's session gets bob's events, each with a
// context carrying bob's session, and never alice's.
func TestListenerIsolation(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		_, err := st.user(ctx, u, userRights...)
		require.NoError(t, err)
	}
	root := st.dial(t, "root", "impersonate", "read:all", "write:all")
	sa, err := root.LoginAs(ctx, "alice")
	require.NoError(t, err)
	sb, err := root.LoginAs(ctx, "bob")
	require.NoError(t, err)
	actx, bctx := sa.Activate(ctx), sb.Activate(ctx)

	var ra, rb recorder
	la, err := root.Listen(actx, ra.listen)
	require.NoError(t, err)
	defer la.Close()
	lb, err := root.Listen(bctx, rb.listen)
	require.NoError(t, err)
	defer lb.Close()

	ja, err := root.Submit(actx, "echo", []byte("alice's"))
	require.NoError(t, err)
	jb, err := root.Submit(bctx, "echo", []byte("bob's"))
	require.NoError(t, err)
	eventually(t, 20*time.Second, func() bool {
		return ra.count(ja.ID, client.StateSucceeded) == 1 && rb.count(jb.ID, client.StateSucceeded) == 1
	}, "both listeners to see their job end")

	require.NoError(t, sb.Close(ctx))
	select {
	case <-lb.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("bob's listener did not stop when his session closed")
	}
	require.NoError(t, lb.Err())
	rb.mu.Lock()
	defer rb.mu.Unlock()
	require.Equal(t, "session.closed", rb.events[len(rb.events)-1].Type)
	for i, ev := range rb.events {
		require.Same(t, sb, rb.sess[i], "delivered with bob's session")
		require.Equal(t, sb.ID(), ev.SessionID)
		if ev.Job != nil {
			require.NotEqual(t, ja.ID, ev.Job.ID, "alice's job reached bob's listener")
			require.Equal(t, "bob", ev.Job.Owner)
		}
	}
}

// A listener whose stream drops opens it again, and delivers each state
// of each job once: none lost, none repeated.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	tok, err := st.user(ctx, "alice", userRights...)
	require.NoError(t, err)
	var d dropper
	c, err := client.Dial(ctx, st.url, client.Token(tok), client.HTTPClient(d.client(t)), client.Retries(3, time.Millisecond))
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close(ctx)) }()

	var r recorder
	l, err := c.Listen(ctx, r.listen)
	require.NoError(t, err)
	defer l.Close()
	j1, err := c.Submit(ctx, "echo", []byte("1"))
	require.NoError(t, err)
	eventually(t, 20*time.Second, func() bool { return r.count(j1.ID, client.StateSucceeded) == 1 }, "job 1 to end")

	for range 3 {
		d.drop()
	}
	j2, err := c.Submit(ctx, "echo", []byte("2"))
	require.NoError(t, err)
	eventually(t, 20*time.Second, func() bool { return r.count(j2.ID, client.StateSucceeded) == 1 }, "job 2 to end after the drop")
	d.drop()
	j3, err := c.Submit(ctx, "echo", []byte("3"))
	require.NoError(t, err)
	eventually(t, 20*time.Second, func() bool { return r.count(j3.ID, client.StateSucceeded) == 1 }, "job 3 to end after the drop")
	for _, id := range []string{j1.ID, j2.ID, j3.ID} {
		require.Equal(t, 1, r.count(id, client.StateSucceeded), "job %s ended once", id)
		// The stream resumes after the last event received: the start of
		// a job, however short, is neither lost nor repeated.
		require.Equal(t, 1, r.count(id, client.StateRunning), "job %s started once", id)
	}
	select {
	case <-l.Done():
		t.Fatalf("the listener stopped: %v", l.Err())
	default:
	}
}

// Without a connection session: jobs outside any session, and an Attach
// handle on an existing session.
func TestWithoutConnectionSession(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	tok, err := st.user(ctx, "alice", userRights...)
	require.NoError(t, err)
	c, err := client.Dial(ctx, st.url, client.Token(tok), client.WithoutConnectionSession())
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close(ctx)) }()
	require.Nil(t, c.Session())
	l, err := st.tbl.List(ctx, sessiontable.ListOptions{Owner: "alice"})
	require.NoError(t, err)
	require.Empty(t, l, "no session opened")
	require.ErrorIs(t, c.SetParam(ctx, "k", "v"), client.ErrInvalid)
	_, err = c.Params(ctx)
	require.ErrorIs(t, err, client.ErrInvalid)

	sub, err := c.Submit(ctx, "echo", []byte{0xff, 0})
	require.NoError(t, err)
	require.Empty(t, sub.SessionID)
	j, err := c.Wait(ctx, sub.ID)
	require.NoError(t, err)
	require.Equal(t, []byte{0xff, 0}, j.Result)
	b, err := json.Marshal(j)
	require.NoError(t, err)
	require.Contains(t, string(b), `"resultBase64":"/wA="`)
	var back client.Job
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, *j, back)

	s, err := c.Establish(ctx, client.Create())
	require.NoError(t, err)
	h, err := c.Attach(s.ID())
	require.NoError(t, err)
	hctx := h.Activate(ctx)
	require.NoError(t, c.SetParam(hctx, "k", "v"))
	require.NoError(t, c.Flush(hctx))
	require.Equal(t, map[string]string{"k": "v"}, st.serverParams(t, s.ID()))
	_, err = c.Attach("")
	require.ErrorIs(t, err, client.ErrInvalid)
}

// Bytes round-trip exactly: text (JSON or not, compact or not), and bytes
// that are not UTF-8; a job's JSON is the server's (api.Job).
func TestPayloadBytesExact(t *testing.T) {
	t.Parallel()
	st := testStack(t, stackOptions{})
	ctx := context.Background()
	tok, err := st.user(ctx, "alice", userRights...)
	require.NoError(t, err)
	c, err := client.Dial(ctx, st.url, client.Token(tok), client.WithoutConnectionSession())
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close(ctx)) }()
	for _, p := range [][]byte{[]byte(`{"a":1}`), []byte(`{"a": 1}`), []byte(` [1] `), []byte("plain <text>"), {0xff, 0}} {
		sub, err := c.Submit(ctx, "echo", p)
		require.NoError(t, err)
		j, err := c.Wait(ctx, sub.ID)
		require.NoError(t, err)
		require.Equal(t, client.StateSucceeded, j.State)
		require.Equal(t, p, j.Payload, "payload %q", p)
		require.Equal(t, p, j.Result, "result %q", p)
		got, err := c.Job(ctx, sub.ID)
		require.NoError(t, err)
		require.Equal(t, p, got.Payload, "payload %q read again", p)
	}
}
