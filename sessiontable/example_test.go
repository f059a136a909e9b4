package sessiontable_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sessionq/sessionq/scheduler"
	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

// exampleTable is a table on an embedded Redis (miniredis, as `sessionq
// dev` runs), so that the examples run by themselves.
func exampleTable() (*sessiontable.Table, func()) {
	m, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	return tbl, func() { _ = rdb.Close(); m.Close() }
}

// The establish-session protocol: one client creates a session for its
// terminal; another finds it through the TID. TIDs are per owner: Bob's
// ws-042 is not Alice's.
func ExampleTable_Establish() {
	tbl, done := exampleTable()
	defer done()
	ctx := context.Background()

	html, err := tbl.Establish(ctx, true, sessiontable.Spec{TID: "ws-042", Owner: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	java, err := tbl.Establish(ctx, false, sessiontable.Spec{TID: "ws-042", Owner: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same session:", java.ID == html.ID, "owner:", java.Owner)

	_, err = tbl.Establish(ctx, false, sessiontable.Spec{})
	fmt.Println(err)
	_, err = tbl.Establish(ctx, false, sessiontable.Spec{TID: "ws-999"})
	fmt.Println(errors.Is(err, sessiontable.ErrNotFound))
	_, err = tbl.Establish(ctx, true, sessiontable.Spec{TID: "ws-042", Owner: "alice"})
	fmt.Println(errors.Is(err, sessiontable.ErrTIDTaken))
	bobs, err := tbl.Establish(ctx, true, sessiontable.Spec{TID: "ws-042", Owner: "bob"})
	fmt.Println(err == nil && bobs.ID != html.ID)
	// Output:
	// same session: true owner: alice
	// sessiontable: a TID is required to find an existing session
	// true
	// true
	// true
}

// Parameters of a sub-session fall back to the session's.
func ExampleApplication() {
	tbl, done := exampleTable()
	defer done()
	ctx := context.Background()

	s, err := tbl.Create(ctx, sessiontable.Spec{Params: map[string]string{"lang": "en", "theme": "dark"}})
	if err != nil {
		log.Fatal(err)
	}
	checkout := sessiontable.Application("checkout")
	if err := tbl.SetParam(ctx, s.ID, "lang", "de", checkout); err != nil {
		log.Fatal(err)
	}
	sub, _ := tbl.Params(ctx, s.ID, checkout)
	parent, _ := tbl.Params(ctx, s.ID)
	fmt.Println("sub-session:", sub["lang"], sub["theme"])
	fmt.Println("session:", parent["lang"], parent["theme"])
	// Output:
	// sub-session: de dark
	// session: en dark
}

// A handler reads and changes its session; the worker writes the changes
// back when the handler succeeds, under the job's fencing token.
func ExampleFromContext() {
	compose := func(ctx context.Context, job *worker.Job) error {
		s := sessiontable.FromContext(ctx)
		if !s.Active() {
			return errors.New("this service requires a session")
		}
		in, err := os.ReadFile(filepath.Join(s.Dir(), "data.xml"))
		if err != nil {
			return err
		}
		pi, _ := s.Param("my_stored_info")
		out := fmt.Sprintf("%s with %s", in, pi)
		if err := os.WriteFile(filepath.Join(s.Dir(), "out.txt"), []byte(out), 0o600); err != nil {
			return err
		}
		return s.SetParam("composed", "yes")
	}
	_ = compose // register it: w.HandleFunc("compose", compose) on a worker with Config.Attacher = worker.SessionTable(table)
}

// The expiry sweep runs as a task of the scheduler, which runs it on the
// leader only.
func ExampleSweeper_Run() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	tbl, err := sessiontable.New(rdb, sessiontable.Config{})
	if err != nil {
		log.Fatal(err)
	}
	sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
	if err != nil {
		log.Fatal(err)
	}
	_, _ = scheduler.New(rdb, scheduler.Config{Tasks: []scheduler.Task{{Name: "session-sweep", Run: sw.Run}}})
	_, _ = worker.New(rdb, worker.Config{Attacher: worker.SessionTable(tbl)})
}
