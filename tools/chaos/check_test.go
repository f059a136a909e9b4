package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	run := func(job, s string, seq int64, from, to int, done bool) Run {
		return Run{Job: job, Session: s, Seq: seq, Start: at(from), End: at(to), Completed: done}
	}
	ok := jobs.StateSucceeded
	for _, tc := range []struct {
		name   string
		acks   []Ack
		runs   []Run
		states map[string]jobs.State
		want   Figures
	}{
		{
			name:   "clean series",
			acks:   []Ack{{"a", "s", 1, at(0)}, {"b", "s", 2, at(0)}},
			runs:   []Run{run("a", "s", 1, 0, 100, true), run("b", "s", 2, 110, 200, true)},
			states: map[string]jobs.State{"a": ok, "b": ok},
			want:   Figures{Acked: 2, Done: 2, Runs: 2, MaxStuck: 10 * time.Millisecond, StuckSession: "s", StuckFrom: at(100)},
		},
		{
			name:   "killed run, gap, rerun completes",
			acks:   []Ack{{"a", "s", 1, at(0)}},
			runs:   []Run{run("a", "s", 1, 0, 50, false), run("a", "s", 1, 1050, 1100, true)},
			states: map[string]jobs.State{"a": ok},
			want:   Figures{Acked: 1, Done: 1, Runs: 2, MaxStuck: time.Second, StuckSession: "s", StuckFrom: at(50)},
		},
		{
			name:   "overlap and run twice",
			acks:   []Ack{{"a", "s", 1, at(0)}},
			runs:   []Run{run("a", "s", 1, 0, 500, true), run("a", "s", 1, 300, 600, true)},
			states: map[string]jobs.State{"a": ok},
			want:   Figures{Acked: 1, Done: 1, Runs: 2, RunTwice: 1, Overlaps: 1, MaxOverlap: 200 * time.Millisecond},
		},
		{
			name:   "out of order, lost, dead",
			acks:   []Ack{{"a", "s", 1, at(0)}, {"b", "s", 2, at(0)}, {"c", "t", 1, at(0)}, {"d", "u", 1, at(0)}},
			runs:   []Run{run("b", "s", 2, 0, 10, true), run("a", "s", 1, 20, 30, true)},
			states: map[string]jobs.State{"a": ok, "b": ok, "d": jobs.StateFailed},
			want: Figures{Acked: 4, Done: 2, Dead: 1, Lost: 1, Runs: 2, Order: 1,
				MaxStuck: time.Second, StuckSession: "t", StuckFrom: at(0)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Check(tc.acks, tc.runs, tc.states, at(1000))
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.want.Lost+tc.want.Overlaps+tc.want.Order == 0, got.OK())
		})
	}
}

func TestLongestUncovered(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	s := func(a, b int) span { return span{t0.Add(time.Duration(a)), t0.Add(time.Duration(b))} }
	for _, tc := range []struct {
		want, cover []span
		d, from     int
	}{
		{[]span{s(0, 10)}, nil, 10, 0},
		{[]span{s(0, 10)}, []span{s(-5, 20)}, 0, 0},
		{[]span{s(0, 10)}, []span{s(2, 3), s(7, 8)}, 4, 3},
		{[]span{s(0, 10), s(20, 25)}, []span{s(0, 10)}, 5, 20},
	} {
		d, from := longestUncovered(tc.want, tc.cover)
		require.Equal(t, time.Duration(tc.d), d)
		if d > 0 {
			require.Equal(t, t0.Add(time.Duration(tc.from)), from)
		}
	}
	require.Equal(t, []span{s(0, 5), s(6, 9)}, merge([]span{s(6, 7), s(0, 3), s(2, 5), s(7, 9)}))
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	l, err := parseLine("S j1 - 0 1 10 11 500 1700000000000000000")
	require.NoError(t, err)
	require.True(t, l.start)
	require.Equal(t, Run{Job: "j1", Attempt: 1, Worker: 10, PID: 11, ticks: "500"}, l.run)
	require.Equal(t, int64(1700000000000000000), l.at.UnixNano())
	for _, bad := range []string{"", "S j1", "X j1 s 1 1 1 1 1 1", "S j1 s x 1 1 1 1 1"} {
		_, err := parseLine(bad)
		require.Error(t, err, bad)
	}
	var rs runSet
	require.Error(t, rs.add([]byte("E j1 s 1 1 10 11 500 5\n")), "an end without a start")
}
