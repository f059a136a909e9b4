// Package audit records when jobs start and end and checks sessionq's
// guarantees on what it saw: jobs of one session start in submission order
// (by sequence number) and never overlap; unrelated jobs run in parallel.
// Tests, the demo and the bench all judge runs with it.
package audit

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Recorder collects events from concurrent handlers. The zero value is ready.
type Recorder struct {
	mu       sync.Mutex
	sessions map[string]*session
	running  int
	maxRun   int
	starts   int
	ends     int
}

type session struct {
	running    int
	lastSeq    int64
	started    []int64 // sequence numbers in start order
	violations int     // starts out of order
	overlaps   int     // starts while another job of the session ran
}

// Start records that the job with sequence number seq of session s started
// (s empty: a job without a session).
func (r *Recorder) Start(s string, seq int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	r.running++
	r.maxRun = max(r.maxRun, r.running)
	if s == "" {
		return
	}
	if r.sessions == nil {
		r.sessions = map[string]*session{}
	}
	ss := r.sessions[s]
	if ss == nil {
		ss = &session{}
		r.sessions[s] = ss
	}
	if ss.running > 0 {
		ss.overlaps++
	}
	// A job run again (retry, lost worker) may start with the same seq.
	if seq < ss.lastSeq {
		ss.violations++
	}
	ss.lastSeq = max(ss.lastSeq, seq)
	ss.running++
	ss.started = append(ss.started, seq)
}

// End records that a job of session s ended.
func (r *Recorder) End(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ends++
	r.running--
	if ss := r.sessions[s]; s != "" && ss != nil {
		ss.running--
	}
}

// Abandon records that a run of session s ended without an End (its worker
// was killed): the session is free again for the check.
func (r *Recorder) Abandon(s string) { r.End(s) }

// SessionReport is what was seen of one session.
type SessionReport struct {
	Session    string
	Starts     int
	InOrder    bool
	Violations int
	Overlaps   int
}

// Report is what was seen overall.
type Report struct {
	Sessions       []SessionReport // sorted by session ID
	Starts, Ends   int
	MaxParallel    int // most jobs running at once
	Violations     int // starts out of order, all sessions
	Overlaps       int // overlapping starts, all sessions
	SessionsSeen   int
	SessionsBroken int
}

// OK reports whether no guarantee was broken.
func (r Report) OK() bool { return r.Violations == 0 && r.Overlaps == 0 }

// String summarises the report in one line.
func (r Report) String() string {
	return fmt.Sprintf("%d starts over %d sessions, %d out of order, %d overlaps, max parallel %d",
		r.Starts, r.SessionsSeen, r.Violations, r.Overlaps, r.MaxParallel)
}

// Report returns what was seen so far.
func (r *Recorder) Report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{Starts: r.starts, Ends: r.ends, MaxParallel: r.maxRun, SessionsSeen: len(r.sessions)}
	for id, ss := range r.sessions {
		sr := SessionReport{Session: id, Starts: len(ss.started), InOrder: ss.violations == 0,
			Violations: ss.violations, Overlaps: ss.overlaps}
		rep.Sessions = append(rep.Sessions, sr)
		rep.Violations += ss.violations
		rep.Overlaps += ss.overlaps
		if ss.violations+ss.overlaps > 0 {
			rep.SessionsBroken++
		}
	}
	sort.Slice(rep.Sessions, func(i, j int) bool { return rep.Sessions[i].Session < rep.Sessions[j].Session })
	return rep
}

// Started returns the sequence numbers of session s in the order they started.
func (r *Recorder) Started(s string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ss := r.sessions[s]; ss != nil {
		return append([]int64(nil), ss.started...)
	}
	return nil
}

// Clock is a monotonic stopwatch for latency measurements.
type Clock struct{ t0 time.Time }

// NewClock starts a clock.
func NewClock() Clock { return Clock{t0: time.Now()} }

// Since is the time since the clock started.
func (c Clock) Since() time.Duration { return time.Since(c.t0) }
