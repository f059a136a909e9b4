// Package chaos is sessionq's fault-injection suite: scenarios that kill,
// pause, cut off and soak a fleet of real `sessionq worker` processes on
// real redis-server processes, and one invariant checker that judges what
// the jobs themselves recorded. The scenarios are the tests of this
// package and run only under `make chaos` (SESSIONQ_CHAOS=1); the pieces
// they are built from are exported for the end-to-end tests too:
//
//   - the job command jobrec (./jobrec), which appends a start and an end
//     line per run to a log file, and Watcher, which reads that log while
//     the fleet runs and notes when a run without an end line died;
//   - Check, which turns acknowledged submissions, runs and final states
//     into Figures: lost, run twice, order violations, overlaps, and the
//     longest time a session was stuck;
//   - Proxy, a TCP proxy between one worker and Redis that can reset every
//     connection or blackhole them (no byte passes, nothing is closed), and
//     heal;
//   - Binary, Start and WorkerArgs to run sessionq and jobrec processes
//     that are killed by PID when the test ends.
package chaos
