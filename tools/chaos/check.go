package chaos

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/sessionq/sessionq/jobs"
)

// Ack is a job acknowledged to its submitter: Submit returned its ID.
type Ack struct {
	ID      string
	Session string
	Seq     int64
	At      time.Time // when Submit returned
}

// Figures are what Check found. Every figure counts from the jobs' own
// records (Runs) and the submitters' acknowledgements, except Done and Dead,
// which are the final states sessionq reports.
type Figures struct {
	Acked    int // jobs acknowledged to a submitter
	Done     int // acknowledged and succeeded
	Dead     int // acknowledged and dead-lettered or cancelled: visible, not lost
	Lost     int // acknowledged, neither succeeded nor dead-lettered
	Runs     int // command runs recorded
	RunTwice int // jobs whose command ran to success more than once
	// Order counts starts of a session's job after a later job of that
	// session had started (a rerun of the same job is not one).
	Order int
	// Overlaps counts runs of a session that started while another run of
	// that session was alive; MaxOverlap is the longest such overlap.
	Overlaps   int
	MaxOverlap time.Duration
	// MaxStuck is the longest time any session had acknowledged work not
	// yet done and no run alive; StuckSession is that session.
	MaxStuck     time.Duration
	StuckSession string
	StuckFrom    time.Time
}

// OK reports whether no invariant was broken: nothing lost, no overlap, no
// order violation. Running a job twice is allowed (at least once) and
// reported apart.
func (f Figures) OK() bool { return f.Lost == 0 && f.Overlaps == 0 && f.Order == 0 }

// String is the one line of figures a scenario prints.
func (f Figures) String() string {
	return fmt.Sprintf("acked=%d done=%d dead=%d lost=%d runs=%d run_twice=%d order_violations=%d overlaps=%d max_overlap=%s max_stuck=%s",
		f.Acked, f.Done, f.Dead, f.Lost, f.Runs, f.RunTwice, f.Order, f.Overlaps,
		f.MaxOverlap.Round(time.Millisecond), f.MaxStuck.Round(time.Millisecond))
}

// Check judges a run of the fleet. acks are the acknowledged submissions,
// runs what the job commands recorded (every run with its End set, as
// Watcher.Stop returns them), states the final state of each job by ID (a
// job missing from states counts as lost), and until the end of the
// observation: a job never done is pending until then.
func Check(acks []Ack, runs []Run, states map[string]jobs.State, until time.Time) Figures {
	f := Figures{Acked: len(acks), Runs: len(runs)}
	for _, a := range acks {
		switch states[a.ID] {
		case jobs.StateSucceeded:
			f.Done++
		case jobs.StateFailed, jobs.StateCancelled:
			f.Dead++
		default:
			f.Lost++
		}
	}

	completions := map[string]int{}
	firstDone := map[string]time.Time{}
	bySession := map[string][]Run{}
	for _, r := range runs {
		if r.Completed {
			completions[r.Job]++
			if t, ok := firstDone[r.Job]; !ok || r.End.Before(t) {
				firstDone[r.Job] = r.End
			}
		}
		if r.Session != "" {
			bySession[r.Session] = append(bySession[r.Session], r)
		}
	}
	for _, n := range completions {
		if n > 1 {
			f.RunTwice++
		}
	}

	for _, rs := range bySession {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Before(rs[j].Start) })
		var maxSeq int64
		var maxEnd time.Time
		for i, r := range rs {
			if r.Seq < maxSeq {
				f.Order++
			}
			maxSeq = max(maxSeq, r.Seq)
			if i > 0 && r.Start.Before(maxEnd) {
				f.Overlaps++
				f.MaxOverlap = max(f.MaxOverlap, minTime(r.End, maxEnd).Sub(r.Start))
			}
			if r.End.After(maxEnd) {
				maxEnd = r.End
			}
		}
	}

	pending := map[string][]span{}
	for _, a := range acks {
		if a.Session == "" {
			continue
		}
		end := until
		if t, ok := firstDone[a.ID]; ok && states[a.ID] == jobs.StateSucceeded {
			end = t
		} else if s := states[a.ID]; s == jobs.StateFailed || s == jobs.StateCancelled {
			continue // ended visibly; its end time is not recorded
		}
		if end.After(a.At) {
			pending[a.Session] = append(pending[a.Session], span{a.At, end})
		}
	}
	for s, ps := range pending {
		var busy []span
		for _, r := range bySession[s] {
			busy = append(busy, span{r.Start, r.End})
		}
		if d, from := longestUncovered(merge(ps), merge(busy)); d > f.MaxStuck {
			f.MaxStuck, f.StuckSession, f.StuckFrom = d, s, from
		}
	}
	return f
}

type span struct{ from, to time.Time }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// merge returns the union of spans as sorted disjoint spans.
func merge(in []span) []span {
	s := slices.Clone(in)
	sort.Slice(s, func(i, j int) bool { return s[i].from.Before(s[j].from) })
	var out []span
	for _, x := range s {
		if n := len(out); n > 0 && !x.from.After(out[n-1].to) {
			if x.to.After(out[n-1].to) {
				out[n-1].to = x.to
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

// longestUncovered is the longest stretch of time inside a span of want
// and outside every span of cover (both sorted and disjoint), and when it
// began.
func longestUncovered(want, cover []span) (time.Duration, time.Time) {
	var best time.Duration
	var from time.Time
	found := func(d time.Duration, at time.Time) {
		if d > best {
			best, from = d, at
		}
	}
	j := 0
	for _, w := range want {
		at := w.from
		for j < len(cover) && !cover[j].to.After(at) {
			j++
		}
		for k := j; at.Before(w.to); k++ {
			if k >= len(cover) || !cover[k].from.Before(w.to) {
				found(w.to.Sub(at), at)
				break
			}
			if cover[k].from.After(at) {
				found(cover[k].from.Sub(at), at)
			}
			if cover[k].to.After(at) {
				at = cover[k].to
			}
		}
	}
	return best, from
}
