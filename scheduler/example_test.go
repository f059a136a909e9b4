package scheduler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/devredis"
	"github.com/sessionq/sessionq/scheduler"
)

// Periodic jobs are given to the scheduler; the leading one submits each
// tick once. ListPeriodic tells when they fire next and last fired.
//
// The example runs on the embedded Redis of `sessionq dev`; the tests run
// against a real redis-server.
func ExamplePeriodic() {
	ctx := context.Background()
	srv, err := devredis.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	periodic := []scheduler.Periodic{
		{Name: "nightly-report", Spec: "30 2 * * *", Type: "doc.render", Session: "reports"},
		{Name: "heartbeat", Every: 10 * time.Minute, Type: "echo", Payload: []byte("tick")},
	}
	s, err := scheduler.New(rdb, scheduler.Config{Periodic: periodic, Logger: quiet})
	if err != nil {
		panic(err)
	}
	s.Stop() // Start(ctx) would run it

	now := time.Date(2030, 1, 1, 12, 34, 0, 0, time.UTC)
	list, err := scheduler.ListPeriodic(ctx, rdb, periodic, now)
	if err != nil {
		panic(err)
	}
	for _, p := range list {
		fmt.Printf("%s (%s): next %s\n", p.Name, p.Schedule, p.Next.Format(time.RFC3339))
	}
	// Output:
	// nightly-report (30 2 * * *): next 2030-01-02T02:30:00Z
	// heartbeat (every 10m0s): next 2030-01-01T12:40:00Z
}
