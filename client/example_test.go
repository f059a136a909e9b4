package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/client"
)

// exampleGateway starts a gateway, the session table and a worker on an
// embedded Redis, with users alice and bob (password "pw-NAME") and root
// (who may impersonate), and returns its URL, root's token and a stop.
func exampleGateway() (url, rootToken string, stop func()) {
	m, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	dir, err := os.MkdirTemp("", "client-example")
	if err != nil {
		log.Fatal(err)
	}
	st, err := newStack(rdb, dir, stackOptions{quota: 2})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if _, err := st.user(ctx, u, userRights...); err != nil {
			log.Fatal(err)
		}
	}
	tok, err := st.user(ctx, "root", "impersonate", "read:all", "write:all")
	if err != nil {
		log.Fatal(err)
	}
	return st.url, tok, func() {
		st.stop()
		_ = rdb.Close()
		m.Close()
		_ = os.RemoveAll(dir)
	}
}

// Dial with a password; the connection session is alice's.
func ExampleDial() {
	url, _, stop := exampleGateway()
	defer stop()
	ctx := context.Background()

	conn, err := client.Dial(ctx, url, client.Password("alice", "pw-alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	fmt.Println("connection session of:", conn.Session().Owner())

	_, err = client.Dial(ctx, url, client.Password("alice", "wrong"))
	fmt.Println("wrong password:", errors.Is(err, client.ErrUnauthorized))
	// Output:
	// connection session of: alice
	// wrong password: true
}

// LoginAs needs the impersonate right; Login needs the user's password.
func ExampleConn_LoginAs() {
	url, rootToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()

	root, err := client.Dial(ctx, url, client.Token(rootToken))
	if err != nil {
		log.Fatal(err)
	}
	defer root.Close(ctx)
	s, err := root.LoginAs(ctx, "bob")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("root opened a session of:", s.Owner())
	_ = s.Close(ctx)

	alice, err := client.Dial(ctx, url, client.Password("alice", "pw-alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close(ctx)
	_, err = alice.LoginAs(ctx, "bob")
	fmt.Println("alice without impersonate:", errors.Is(err, client.ErrForbidden))
	s, err = alice.Login(ctx, "bob", "pw-bob")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice with bob's password:", s.Owner())
	_ = s.Close(ctx)
	// Output:
	// root opened a session of: bob
	// alice without impersonate: true
	// alice with bob's password: bob
}

// Activate a session for a context: two goroutines act in two sessions
// at once on one connection.
func ExampleSession_Activate() {
	url, rootToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	conn, err := client.Dial(ctx, url, client.Token(rootToken))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)

	var wg sync.WaitGroup
	out := make([]string, 2)
	for i, user := range []string{"alice", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := conn.LoginAs(ctx, user)
			if err != nil {
				log.Fatal(err)
			}
			defer s.Close(ctx)
			sctx := s.Activate(ctx) // calls with sctx act in s
			_ = conn.SetParam(sctx, "greeting", "hello "+user)
			sub, err := conn.Submit(sctx, "param", []byte("greeting")) // flushes first
			if err != nil {
				log.Fatal(err)
			}
			j, err := conn.Wait(sctx, sub.ID)
			if err != nil {
				log.Fatal(err)
			}
			out[i] = fmt.Sprintf("%s's job read %q", client.SessionFrom(sctx).Owner(), j.Result)
		}()
	}
	wg.Wait()
	fmt.Println(out[0])
	fmt.Println(out[1])
	// Without a session in the context: the connection session.
	fmt.Println("no session in ctx:", conn.Session().Owner())
	// Output:
	// alice's job read "hello alice"
	// bob's job read "hello bob"
	// no session in ctx: root
}

// Parameter writes are buffered until Flush, or until a call that asks
// the server.
func ExampleConn_Flush() {
	url, _, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	conn, err := client.Dial(ctx, url, client.Password("alice", "pw-alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)

	before := conn.Requests()
	_ = conn.SetParam(ctx, "lang", "fr")
	_ = conn.SetParam(ctx, "tz", "Europe/Paris")
	_ = conn.DeleteParam(ctx, "draft")
	v, _ := conn.Param(ctx, "lang") // from the buffer
	fmt.Println("lang:", v, "requests:", conn.Requests()-before)
	if err := conn.Flush(ctx); err != nil { // one request, all or nothing
		log.Fatal(err)
	}
	fmt.Println("after Flush, requests:", conn.Requests()-before)
	m, _ := conn.Params(ctx)
	fmt.Println(m["lang"], m["tz"])
	// Output:
	// lang: fr requests: 0
	// after Flush, requests: 1
	// fr Europe/Paris
}

// Submit a job in the connection session and wait for it to end.
func ExampleConn_Submit() {
	url, _, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	conn, err := client.Dial(ctx, url, client.Password("alice", "pw-alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)

	sub, err := conn.Submit(ctx, "echo", []byte("hi"), client.MaxRetry(1))
	if err != nil {
		log.Fatal(err)
	}
	j, err := conn.Wait(ctx, sub.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(j.State, string(j.Result), j.SessionID == conn.Session().ID())
	// Output:
	// succeeded hi true
}

// Files of the context's session.
func ExampleConn_PutFile() {
	url, _, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	conn, err := client.Dial(ctx, url, client.Password("alice", "pw-alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)

	_ = conn.PutFile(ctx, "notes.txt", []byte("remember"))
	b, _ := conn.File(ctx, "notes.txt")
	fs, _ := conn.Files(ctx)
	fmt.Println(string(b), fs)
	// Output:
	// remember [{notes.txt 8}]
}

// A listener gets the session's events with a context carrying the
// session it was attached under.
func ExampleConn_Listen() {
	url, rootToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	conn, err := client.Dial(ctx, url, client.Token(rootToken))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	s, err := conn.LoginAs(ctx, "bob")
	if err != nil {
		log.Fatal(err)
	}
	bctx := s.Activate(ctx)

	ended := make(chan string, 1)
	l, err := conn.Listen(bctx, func(ctx context.Context, ev client.Event) {
		if ev.Job != nil && ev.Job.State.Terminal() {
			ended <- fmt.Sprintf("%s's job %s", client.SessionFrom(ctx).Owner(), ev.Job.State)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := conn.Submit(bctx, "echo", nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-ended)
	_ = s.Close(ctx) // the listener stops with the session
	<-l.Done()
	// Output:
	// bob's job succeeded
}

// A pool of sessions per user on one privileged connection.
func ExamplePool() {
	url, rootToken, stop := exampleGateway()
	defer stop()
	ctx := context.Background()
	conn, err := client.Dial(ctx, url, client.Token(rootToken))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	pool, err := client.NewPool(conn, client.PoolConfig{MaxPerUser: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close(ctx)

	s1, _ := pool.Acquire(ctx, "alice")
	pool.Release(s1)
	s2, _ := pool.Acquire(ctx, "alice") // the same session again
	fmt.Println("reused:", s1 == s2, "held:", pool.Held("alice"))
	pool.Release(s2)
	// Output:
	// reused: true held: 1
}
