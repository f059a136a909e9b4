package worker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/internal/devredis"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/worker"
)

// A worker runs the jobs of one session one at a time, in the order they
// were submitted, while a job without a session runs beside them.
//
// The example runs on the embedded Redis of `sessionq dev` so that it needs
// nothing installed; that suffices for documentation. The guarantees are
// proven by the tests against a real redis-server.
func Example() {
	ctx := context.Background()
	srv, err := devredis.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	w, err := worker.New(rdb, worker.Config{Concurrency: 4, Logger: quiet})
	if err != nil {
		panic(err)
	}
	done := make(chan string)
	_ = w.HandleFunc("doc.render", func(ctx context.Context, job *worker.Job) error {
		done <- fmt.Sprintf("session %q job #%d renders %s (active: %v)", job.SessionID, job.Seq, job.Payload, job.Active)
		return nil
	})
	if err := w.Start(ctx); err != nil {
		panic(err)
	}
	defer w.Stop()

	c, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	if err != nil {
		panic(err)
	}
	for _, page := range []string{"cover", "body", "index"} {
		if _, err := c.Submit(ctx, "doc.render", []byte(page), jobs.Session("report-42")); err != nil {
			panic(err)
		}
	}
	for range 3 {
		fmt.Println(<-done)
	}
	// Output:
	// session "report-42" job #1 renders cover (active: false)
	// session "report-42" job #2 renders body (active: false)
	// session "report-42" job #3 renders index (active: false)
}

// Submit options: a session, retries, a timeout, a delay and an
// idempotency key; Get reads the job back.
func ExampleWorker_Start() {
	ctx := context.Background()
	srv, err := devredis.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	w, _ := worker.New(rdb, worker.Config{Concurrency: 2, Logger: quiet})
	_ = w.HandleFunc("greet", func(ctx context.Context, job *worker.Job) error {
		job.SetResult([]byte("hello " + string(job.Payload)))
		return nil
	})
	_ = w.Start(ctx)
	defer w.Stop()

	c, _ := jobs.NewClient(rdb, jobs.ClientConfig{})
	sub, _ := c.Submit(ctx, "greet", []byte("world"),
		jobs.Session("s-1"), jobs.MaxRetry(5), jobs.Timeout(time.Minute),
		jobs.ProcessIn(10*time.Millisecond), jobs.IdempotencyKey("greet-world"))
	again, _ := c.Submit(ctx, "greet", []byte("world"), jobs.Session("s-1"), jobs.IdempotencyKey("greet-world"))
	fmt.Println("same job:", again.ID == sub.ID, "existing:", again.Existing)
	for {
		info, _ := c.Get(ctx, sub.ID)
		if info.State.Terminal() {
			fmt.Println(info.State, string(info.Result), "after", info.Attempts, "attempt")
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Output:
	// same job: true existing: true
	// succeeded hello world after 1 attempt
}
