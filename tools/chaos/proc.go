package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// WorkerOptions are the settings of a `sessionq worker` process that the
// suite varies. Zero values leave the worker's defaults.
type WorkerOptions struct {
	Concurrency int
	Lease       time.Duration
	// Exec is TYPE=COMMAND, e.g. "doc=/tmp/jobrec /tmp/runs.log".
	Exec string
	// RepairInterval is how often the leading worker runs a repair pass
	// (every worker takes part in the election).
	RepairInterval time.Duration
	// Retention is how long finished session jobs stay readable.
	Retention time.Duration
}

// WorkerArgs is the one place that turns options into the arguments of
// `sessionq worker` on the Redis at url.
func WorkerArgs(url string, o WorkerOptions) []string {
	args := []string{"worker", "--redis", url, "--exec", o.Exec}
	if o.Concurrency > 0 {
		args = append(args, "--concurrency", fmt.Sprint(o.Concurrency))
	}
	if o.Lease > 0 {
		args = append(args, "--lease", o.Lease.String())
	}
	if o.RepairInterval > 0 {
		args = append(args, "--repair-interval", o.RepairInterval.String())
	}
	if o.Retention > 0 {
		args = append(args, "--retention", o.Retention.String())
	}
	return args
}

var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// Binary builds the main package pkg (an import path) once per test binary
// and returns the path of the executable; race adds -race.
func Binary(t testing.TB, pkg string, race bool) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	k := fmt.Sprint(pkg, race)
	if p, ok := builds.bins[k]; ok {
		return p
	}
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "sessionq-chaos-")
		if err != nil {
			t.Fatalf("chaos: %v", err)
		}
		builds.dir, builds.bins = d, map[string]string{}
	}
	out := filepath.Join(builds.dir, fmt.Sprintf("%s-%d", filepath.Base(pkg), len(builds.bins)))
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chaos: building %s: %v\n%s", pkg, err, b)
	}
	builds.bins[k] = out
	return out
}

// Jobrec builds the jobrec command and returns the --exec value that runs
// it for jobs of type typ, recording into logFile.
func Jobrec(t testing.TB, typ, logFile string) string {
	t.Helper()
	return typ + "=" + Binary(t, "github.com/sessionq/sessionq/tools/chaos/jobrec", false) + " " + logFile
}

// Proc is a process started by Start.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
}

// Start runs bin with args (and env added to the test's environment). The
// process gets SIGKILL when the test ends, by its PID, and when the test
// binary dies (Pdeathsig); its output is logged if the test failed.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("chaos: starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGCONT) // a paused one too
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("--- last output of %s (pid %d):\n%s", name, p.Pid(), p.Output())
		}
	})
	return p
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output is the end of what the process printed (the last 64 KiB).
func (p *Proc) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Ready waits until the process has printed want; it fails the test if the
// process exits first or within does not suffice.
func (p *Proc) Ready(t testing.TB, want string, within time.Duration) *Proc {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.Output(), want) {
		select {
		case <-p.done:
			t.Fatalf("chaos: %s exited before printing %q: %s", p.Name, want, p.Output())
		case <-deadline.C:
			t.Fatalf("chaos: %s did not print %q within %s: %s", p.Name, want, within, p.Output())
		case <-tick.C:
		}
	}
	return p
}

// Kill9 sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill9(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("chaos: kill -9 %s: %v", p.Name, err)
	}
	<-p.done
}

// Signal sends sig to the process (SIGSTOP, SIGCONT, ...).
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(p.Pid(), sig); err != nil {
		t.Fatalf("chaos: signal %s to %s: %v", sig, p.Name, err)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > 2*w.max {
		w.b = append([]byte(nil), w.b[len(w.b)-w.max:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.b) > w.max {
		return string(w.b[len(w.b)-w.max:])
	}
	return string(w.b)
}
