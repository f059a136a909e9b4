// Command jobrec is the job command of the fault-injection suite (package
// chaos): given to a worker with --exec TYPE=jobrec LOGFILE, it appends a
// start line to LOGFILE, sleeps for the duration in its payload (standard
// input, e.g. "300ms"; none: no sleep), appends an end line and exits 0.
// Each line is one write to a file opened with O_APPEND, so lines of
// concurrent commands never mix. The format is package chaos's (record.go):
//
//	S|E JOB SESSION SEQ ATTEMPT WORKERPID PID STARTTICKS UNIXNANO
//
// A command killed in its sleep leaves a start line without an end line;
// the suite's watcher then notes when the process disappeared.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sessionq/sessionq/sessiontable"
	"github.com/sessionq/sessionq/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "jobrec:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: jobrec LOGFILE (payload on stdin: a sleep duration)")
	}
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 64))
	if err != nil {
		return fmt.Errorf("reading payload: %w", err)
	}
	var sleep time.Duration
	if s := strings.TrimSpace(string(in)); s != "" {
		if sleep, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("payload %q: %w", s, err)
		}
	}
	f, err := os.OpenFile(os.Args[1], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening log: %w", err)
	}
	defer f.Close()
	session := os.Getenv(sessiontable.EnvSessionID)
	if session == "" {
		session = "-"
	}
	head := strings.Join([]string{
		os.Getenv(worker.EnvJobID), session, orZero(os.Getenv(worker.EnvSeq)), orZero(os.Getenv(worker.EnvAttempt)),
		strconv.Itoa(os.Getppid()), strconv.Itoa(os.Getpid()), startTicks(),
	}, " ")
	line := func(kind string) error {
		_, err := fmt.Fprintf(f, "%s %s %d\n", kind, head, time.Now().UnixNano())
		return err
	}
	if err := line("S"); err != nil {
		return fmt.Errorf("writing start: %w", err)
	}
	time.Sleep(sleep)
	if err := line("E"); err != nil {
		return fmt.Errorf("writing end: %w", err)
	}
	return nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// startTicks is the process start time from /proc/self/stat (field 22, in
// clock ticks since boot), so that a watcher can tell this process from a
// later one with the same pid.
func startTicks() string {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return "0"
	}
	return statStartTicks(string(b))
}

// statStartTicks returns field 22 of a /proc/PID/stat line, "0" if absent.
func statStartTicks(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return "0"
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return "0"
	}
	return f[19]
}
