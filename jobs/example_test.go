package jobs_test

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/devredis"
	"github.com/sessionq/sessionq/jobs"
)

// List shows the backlog of a session in order; a paused queue holds its
// jobs; Queues counts them.
//
// The example runs on the embedded Redis of `sessionq dev` so that it needs
// nothing installed; the tests run against a real redis-server.
func ExampleClient_List() {
	ctx := context.Background()
	srv, err := devredis.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	if err != nil {
		panic(err)
	}
	if err := c.PauseQueue(ctx, "reports"); err != nil {
		panic(err)
	}
	for _, page := range []string{"cover", "body"} {
		if _, err := c.Submit(ctx, "doc.render", []byte(page), jobs.Session("report-42"), jobs.Queue("reports")); err != nil {
			panic(err)
		}
	}
	list, err := c.List(ctx, jobs.ListOptions{Session: "report-42"})
	if err != nil {
		panic(err)
	}
	for _, in := range list {
		fmt.Printf("#%d %s %s\n", in.Seq, in.State, in.Payload)
	}
	qs, err := c.Queues(ctx)
	if err != nil {
		panic(err)
	}
	for _, q := range qs {
		fmt.Printf("%s paused=%v depth=%d parked=%d\n", q.Name, q.Paused, q.Depth(), q.Parked)
	}
	// No worker runs doc.render yet: the head waits for one.
	// Output:
	// #1 waiting_for_handler cover
	// #2 parked body
	// reports paused=true depth=2 parked=1
}
