package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Run is one run of a job command, as jobrec recorded it.
type Run struct {
	Job     string // SESSIONQ_JOB_ID
	Session string // "" for a job without a session
	Seq     int64
	Attempt int
	Worker  int // pid of the worker that ran the command
	PID     int // pid of the command
	ticks   string

	Start time.Time
	// End is when the command wrote its end line (Completed), or, for a run
	// killed before it, when the Watcher saw its process gone (or the end of
	// the watch, if it was still running then).
	End time.Time
	// Completed: the command wrote its end line, i.e. it ran to success.
	Completed bool
}

// Alive reports whether r's process is still running (not a zombie, and
// not another process that got the same pid).
func (r Run) Alive() bool { return processAlive(r.PID, r.ticks) }

// A record line is
//
//	KIND JOB SESSION SEQ ATTEMPT WORKERPID PID STARTTICKS UNIXNANO
//
// with KIND S (start) or E (end) and SESSION "-" for none.
type line struct {
	start bool
	run   Run
	at    time.Time
}

func parseLine(s string) (line, error) {
	f := strings.Fields(s)
	if len(f) != 9 || (f[0] != "S" && f[0] != "E") {
		return line{}, fmt.Errorf("chaos: record line %q: want 9 fields starting with S or E", s)
	}
	var nums [5]int64
	for i, field := range []string{f[3], f[4], f[5], f[6], f[8]} {
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return line{}, fmt.Errorf("chaos: record line %q: %w", s, err)
		}
		nums[i] = n
	}
	session := f[2]
	if session == "-" {
		session = ""
	}
	return line{
		start: f[0] == "S",
		run: Run{Job: f[1], Session: session, Seq: nums[0], Attempt: int(nums[1]),
			Worker: int(nums[2]), PID: int(nums[3]), ticks: f[7]},
		at: time.Unix(0, nums[4]),
	}, nil
}

// ReadRuns reads a jobrec log in one go, for a log whose commands have all
// ended: a run without an end line gets End = until.
func ReadRuns(path string, until time.Time) ([]Run, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("chaos: reading runs: %w", err)
	}
	var runs runSet
	if err := runs.add(b); err != nil {
		return nil, err
	}
	return runs.finish(until), nil
}

// runSet assembles runs from lines; a run is keyed by its pid and start
// ticks, which no other process shares.
type runSet struct {
	runs   []Run
	open   map[string]int // key -> index of a run with no end line yet
	reaped map[string]int // key -> index of a run seen gone without one
}

func key(r Run) string { return strconv.Itoa(r.PID) + "/" + r.ticks }

// add parses complete lines of b (a last line without its newline is an
// error: callers pass only complete lines).
func (s *runSet) add(b []byte) error {
	if s.open == nil {
		s.open, s.reaped = map[string]int{}, map[string]int{}
	}
	for _, raw := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if raw == "" {
			continue
		}
		l, err := parseLine(raw)
		if err != nil {
			return err
		}
		k := key(l.run)
		if l.start {
			r := l.run
			r.Start = l.at
			s.open[k] = len(s.runs)
			s.runs = append(s.runs, r)
			continue
		}
		i, ok := s.open[k]
		if !ok {
			// Seen gone between the read of its start line and the read of
			// its end line: it wrote the end line, then exited.
			if i, ok = s.reaped[k]; !ok {
				return fmt.Errorf("chaos: record line %q: an end without its start", raw)
			}
		}
		delete(s.open, k)
		delete(s.reaped, k)
		s.runs[i].End, s.runs[i].Completed = l.at, true
	}
	return nil
}

// reap sets End = now on open runs whose process is gone.
func (s *runSet) reap(now time.Time) {
	for k, i := range s.open {
		if !s.runs[i].Alive() {
			s.runs[i].End = now
			delete(s.open, k)
			s.reaped[k] = i
		}
	}
}

func (s *runSet) finish(until time.Time) []Run {
	for k, i := range s.open {
		s.runs[i].End = until
		delete(s.open, k)
	}
	return append([]Run(nil), s.runs...)
}

// Watcher follows a jobrec log while the fleet runs. Every poll interval it
// reads the new lines and checks the process of every run that has no end
// line yet; a run whose process is gone gets End = the time it was seen
// gone (a killed command writes nothing). So the end of a killed run is
// known to within one poll interval.
type Watcher struct {
	path  string
	every time.Duration

	mu     sync.Mutex
	runs   runSet
	off    int64
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

// Watch starts watching the jobrec log at path, polling every interval
// (5ms if zero). Stop it with Stop.
func Watch(path string, every time.Duration) *Watcher {
	if every <= 0 {
		every = 5 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{path: path, every: every, cancel: cancel, done: make(chan struct{})}
	go w.loop(ctx)
	return w
}

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.poll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll reads what was appended since the last poll and reaps dead runs.
func (w *Watcher) poll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if err := w.readLocked(); err != nil {
		w.err = err
		return
	}
	w.runs.reap(time.Now())
}

func (w *Watcher) readLocked() error {
	f, err := os.Open(w.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("chaos: watching runs: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(w.off, io.SeekStart); err != nil {
		return fmt.Errorf("chaos: watching runs: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("chaos: watching runs: %w", err)
	}
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return nil // no complete line yet
	}
	w.off += int64(i + 1)
	return w.runs.add(b[:i+1])
}

// Runs returns the runs seen so far; a run still going has a zero End.
func (w *Watcher) Runs() ([]Run, error) {
	w.poll()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Run(nil), w.runs.runs...), w.err
}

// Stop stops watching and returns every run seen; runs still going get End
// = the time of Stop. It is safe to call twice.
func (w *Watcher) Stop() ([]Run, error) {
	w.cancel()
	<-w.done
	w.poll()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.runs.finish(time.Now()), w.err
}

// processAlive reports whether pid runs and is the process that started at
// ticks (field 22 of /proc/PID/stat); a zombie counts as gone.
func processAlive(pid int, ticks string) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return false
	}
	return ticks == "0" || f[19] == ticks
}
