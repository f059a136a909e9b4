package dashboard_test

import (
	"log"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/dashboard"
	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/users"
)

// The dashboard on a server of one's own (the gateway mounts it at /ui/
// by itself), with asynqmon under /ui/queues/.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	tbl, err := sessiontable.New(rdb, sessiontable.Config{})
	if err != nil {
		log.Fatal(err)
	}
	jc, err := jobs.NewClient(rdb, jobs.ClientConfig{})
	if err != nil {
		log.Fatal(err)
	}
	h, err := dashboard.New(dashboard.Config{
		Redis: rdb, Table: tbl, Jobs: jc, Users: users.New(rdb),
		Queues: dashboard.NewQueues(rdb, dashboard.DefaultPrefix),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(dashboard.DefaultPrefix+"/", h)
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", mux))
}
