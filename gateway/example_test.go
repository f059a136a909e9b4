package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/gateway"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

// A gateway on an embedded Redis: a user with a token establishes a
// session and submits a job in it.
func ExampleNew() {
	m, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	tbl, _ := sessiontable.New(rdb, sessiontable.Config{Logger: quiet})
	jc, _ := jobs.NewClient(rdb, jobs.ClientConfig{})
	us := users.New(rdb)
	_ = us.Add(ctx, "alice", "", []string{users.ReadOwn, users.WriteOwn, "submit:default/*"})
	tok, _, _ := us.CreateToken(ctx, "alice", "example", 0)

	g, err := gateway.New(rdb, tbl, jc, us, gateway.Config{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	call := func(method, path, body string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res
	}
	res := call("POST", "/v1/sessions", `{"createSession": true, "TID": "ws-042"}`)
	s := res.Header.Get(gateway.HeaderSession)
	fmt.Println("establish:", res.Status)
	res = call("POST", "/v1/jobs", `{"type": "doc.render", "payload": "{}"}`, gateway.HeaderSession, s)
	fmt.Println("submit:", res.Status, "in the session:", res.Header.Get(gateway.HeaderSession) == s)
	res = call("POST", "/v1/jobs", `{"type": "doc.render"}`, gateway.HeaderSession, s, "Authorization", "Bearer nope")
	fmt.Println("without a valid token:", res.Status)
	// Output:
	// establish: 201 Created
	// submit: 202 Accepted in the session: true
	// without a valid token: 401 Unauthorized
}
