package chaos_test

import (
	"fmt"
	"time"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/tools/chaos"
)

// Two jobs of one session: the first run of job a was killed, and its rerun
// started two seconds after the kill; job b ran after it.
func ExampleCheck() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	acks := []chaos.Ack{
		{ID: "a", Session: "s", Seq: 1, At: at(0)},
		{ID: "b", Session: "s", Seq: 2, At: at(0)},
	}
	runs := []chaos.Run{
		{Job: "a", Session: "s", Seq: 1, Start: at(0), End: at(100)},
		{Job: "a", Session: "s", Seq: 1, Start: at(2100), End: at(2400), Completed: true},
		{Job: "b", Session: "s", Seq: 2, Start: at(2410), End: at(2700), Completed: true},
	}
	states := map[string]jobs.State{"a": jobs.StateSucceeded, "b": jobs.StateSucceeded}
	f := chaos.Check(acks, runs, states, at(3000))
	fmt.Println(f)
	fmt.Println("ok:", f.OK())
	// Output:
	// acked=2 done=2 dead=0 lost=0 runs=3 run_twice=0 order_violations=0 overlaps=0 max_overlap=0s max_stuck=2s
	// ok: true
}
