package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-shellwords"

	"github.com/sessionq/sessionq/sessiontable"
)

// ExecOptions configure NewExecHandler. Zero values take the defaults named.
type ExecOptions struct {
	// MaxOutput is how much of the command's stdout is kept as the job's
	// result, in bytes; the rest is read and discarded, which is not an
	// error. The worker's Config.MaxResult caps the stored result too.
	// Default 64 KiB.
	MaxOutput int
	// StderrTail is how many bytes of the end of the command's stderr are
	// kept for the error text of a failed run. Default 4 KiB.
	StderrTail int
	// Dir is the command's working directory; a relative command path is
	// resolved in it. Default: the worker's working directory.
	Dir string
}

// Logging a failed exec command's stderr (Config.ExecStderrLog).
const (
	// ExecStderrOff is the Config.ExecStderrLog that never logs it.
	ExecStderrOff = "off"
	// DefaultExecStderrLog is Config.ExecStderrLog's default.
	DefaultExecStderrLog = "debug"
	// ExecStderrLogMax is how much of the end of a failed exec command's
	// stderr tail the worker logs, in bytes.
	ExecStderrLogMax = 512
)

// execStderrLevels are the levels of Config.ExecStderrLog.
var execStderrLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

func validExecStderrLog(s string) bool {
	_, ok := execStderrLevels[s]
	return ok || s == ExecStderrOff
}

const (
	defaultExecMaxOutput  = 64 << 10
	defaultExecStderrTail = 4 << 10
	// execWaitDelay bounds how long Wait waits for the command's stdout and
	// stderr to close once the command has exited or been killed. Only a
	// process that left the command's process group (setsid) can hold them
	// open that long; see runCommand.
	execWaitDelay = 2 * time.Second
)

// NewExecHandler returns a Handler that runs command for each job: a job
// type mapped to a command line, configured on the worker, never taken from
// a job.
//
// The command line is split into words with POSIX shell quoting rules
// (github.com/mattn/go-shellwords), but no shell runs it: there is no
// expansion of environment variables ($VAR is passed literally), command
// substitution, globs or ~, and a line with a shell operator (; & | < >) or
// a leading VAR=value assignment is an error. The payload never reaches the
// command line, so it cannot inject anything into it. Write sh -c '...' to
// get a shell.
//
// Each run gets the job's payload on stdin and the worker's environment plus
// the session attachment's variables and SESSIONQ_JOB_ID, SESSIONQ_JOB_TYPE,
// SESSIONQ_SESSION_ID (empty without a session), SESSIONQ_SESSION_ACTIVE
// (true or false), SESSIONQ_FENCING_TOKEN, SESSIONQ_ATTEMPT,
// SESSIONQ_APPLICATION_ID, SESSIONQ_QUEUE and SESSIONQ_SEQ; these job
// variables win over same-named ones from the worker or the attachment.
//
// Exit status 0 is success, and stdout (up to MaxOutput) is the job's
// result. Any other status fails the job with the status and the tail of
// stderr. A command that cannot be started (not found, not executable) fails
// the job without retries (ErrSkipRetry).
//
// The command runs in a process group of its own. When the job's context is
// cancelled (timeout, lost lease, shutdown) the whole group is killed with
// SIGKILL; when the command exits, whatever it left running in its group is
// killed too, so nothing of a finished job overlaps the next job of its
// session. If the worker dies, even by SIGKILL, the kernel kills the command
// (not the rest of its group). Processes that leave the group (setsid) are
// not tracked. NewExecHandler is supported on Linux only.
//
// NewExecHandler does not look for the program: a worker calls CheckExec
// at start to refuse a command that cannot run.
func NewExecHandler(command string, opts ExecOptions) (Handler, error) {
	if err := execSupported(); err != nil {
		return nil, err
	}
	args, err := parseCommand(command)
	if err != nil {
		return nil, err
	}
	if opts.MaxOutput == 0 {
		opts.MaxOutput = defaultExecMaxOutput
	}
	if opts.StderrTail == 0 {
		opts.StderrTail = defaultExecStderrTail
	}
	switch {
	case opts.MaxOutput < 0:
		return nil, fmt.Errorf("worker: exec max output %d is negative", opts.MaxOutput)
	case opts.StderrTail < 0:
		return nil, fmt.Errorf("worker: exec stderr tail %d is negative", opts.StderrTail)
	}
	return &execHandler{args: args, opts: opts, waitDelay: execWaitDelay}, nil
}

// parseCommand splits a command line into words, refusing what a shell
// would read differently (see NewExecHandler).
func parseCommand(command string) ([]string, error) {
	p := shellwords.NewParser()
	p.ParseEnv, p.ParseBacktick, p.ParseComment = false, false, false
	args, err := p.Parse(command)
	if err != nil {
		return nil, fmt.Errorf("worker: exec command %q: %w", command, err)
	}
	if p.Position >= 0 {
		// The parser stops at an unquoted shell operator; running only the
		// words before it would silently drop the rest.
		return nil, fmt.Errorf("worker: exec command %q: shell operator at offset %d; no shell runs the command (use sh -c '...')", command, p.Position)
	}
	if len(args) == 0 {
		return nil, errors.New("worker: exec command is empty")
	}
	if isAssignment(args[0]) {
		return nil, fmt.Errorf("worker: exec command %q: leading assignment %q is not supported; set it in the worker's environment", command, args[0])
	}
	return args, nil
}

// ErrExecCannotRun is wrapped by CheckExec's errors.
var ErrExecCannotRun = errors.New("worker: exec command cannot run")

// CheckExec checks that command could run now, as a worker does before it
// starts: the line parses (see NewExecHandler), its program is found
// (exec.LookPath: in PATH, or as a path, relative to opts.Dir when that is
// set) and is an executable file, and opts.Dir, when set, is a directory.
// Its errors wrap ErrExecCannotRun.
func CheckExec(command string, opts ExecOptions) error {
	args, err := parseCommand(command)
	if err != nil {
		return &cannotRunError{err}
	}
	if err := CheckExecDir(opts.Dir); err != nil {
		return err
	}
	name := args[0]
	if strings.Contains(name, "/") && !filepath.IsAbs(name) && opts.Dir != "" {
		name = filepath.Join(opts.Dir, name)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return &cannotRunError{fmt.Errorf("worker: exec command %q: %w", command, err)}
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return &cannotRunError{fmt.Errorf("worker: exec command %q: %s is not a regular file", command, path)}
	}
	return nil
}

// cannotRunError is an error of CheckExec: its text is err's, and it
// matches ErrExecCannotRun.
type cannotRunError struct{ err error }

func (e *cannotRunError) Error() string        { return e.err.Error() }
func (e *cannotRunError) Unwrap() error        { return e.err }
func (e *cannotRunError) Is(target error) bool { return target == ErrExecCannotRun }

// CheckExecDir checks that dir, the working directory of exec commands,
// is a directory ("" is the worker's own and always fine). Its errors wrap
// ErrExecCannotRun.
func CheckExecDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return &cannotRunError{fmt.Errorf("worker: exec working directory: %w", err)}
	case !fi.IsDir():
		return &cannotRunError{fmt.Errorf("worker: exec working directory %s is not a directory", dir)}
	}
	return nil
}

// EnvProgressFD names, in an exec command's environment, the file
// descriptor (3) on which the command may write progress lines: "progress
// DONE/TOTAL message" (see Progress and ParseProgressLine).
const EnvProgressFD = "SESSIONQ_PROGRESS_FD"

// The job's variables in an exec command's environment (besides the
// session attachment's: sessiontable.EnvSessionID, EnvActive,
// EnvApplicationID, EnvDir, EnvParams).
const (
	EnvJobID        = "SESSIONQ_JOB_ID"
	EnvJobType      = "SESSIONQ_JOB_TYPE"
	EnvFencingToken = "SESSIONQ_FENCING_TOKEN"
	EnvAttempt      = "SESSIONQ_ATTEMPT"
	EnvQueue        = "SESSIONQ_QUEUE"
	EnvSeq          = "SESSIONQ_SEQ"
)

// ExecEnvNames returns the name of every SESSIONQ_* variable the worker
// gives an exec command: the job's, the session attachment's and
// EnvProgressFD.
func ExecEnvNames() []string {
	return []string{
		EnvJobID, EnvJobType, EnvQueue, sessiontable.EnvSessionID, sessiontable.EnvActive, EnvSeq,
		EnvFencingToken, EnvAttempt, sessiontable.EnvApplicationID, sessiontable.EnvDir, sessiontable.EnvParams, EnvProgressFD,
	}
}

type execHandler struct {
	args      []string
	opts      ExecOptions
	waitDelay time.Duration // execWaitDelay; shorter in tests
}

// Process runs the command for one job.
func (h *execHandler) Process(ctx context.Context, job *Job) error {
	name := h.args[0]
	cmd := exec.CommandContext(ctx, name, h.args[1:]...)
	cmd.Dir = h.opts.Dir
	cmd.Stdin = bytes.NewReader(job.Payload)
	stdout := &headBuffer{max: h.opts.MaxOutput}
	stderr := &tailBuffer{max: h.opts.StderrTail}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Later entries win over earlier ones with the same key (os/exec keeps
	// the last), so the attachment cannot overwrite the job's identity.
	cmd.Env = append(append(inheritedEnv(), job.env...), jobEnv(job)...)
	cmd.WaitDelay = h.waitDelay
	// Progress: lines "progress DONE/TOTAL message" on file descriptor 3.
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("exec %s: progress pipe: %w", name, err)
	}
	cmd.ExtraFiles = []*os.File{pw}
	cmd.Env = append(cmd.Env, EnvProgressFD+"=3")
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		readProgress(ctx, pr, job)
	}()
	err = runCommand(cmd)
	_ = pw.Close() // the command's copy closes as it exits; the reader then ends
	select {
	case <-progressDone:
	case <-time.After(h.waitDelay):
		// A process the command left running keeps the pipe open.
	}
	_ = pr.Close()
	var se *startError
	switch {
	case err == nil:
		job.SetResult(stdout.Bytes())
		return nil
	case errors.As(err, &se) && ctx.Err() != nil:
		// os/exec refuses to start a command once its context is done.
		return fmt.Errorf("exec %s: cancelled before start: %w", name, context.Cause(ctx))
	case errors.As(err, &se) && se.permanent:
		return fmt.Errorf("exec %s: cannot start command%s: %w: %w", name, h.dirProblem(), se.err, ErrSkipRetry)
	case errors.As(err, &se):
		return fmt.Errorf("exec %s: cannot start command%s: %w", name, h.dirProblem(), se.err)
	case ctx.Err() != nil:
		return stderr.wrap(fmt.Errorf("exec %s: cancelled, process group killed: %w", name, context.Cause(ctx)))
	case errors.Is(err, exec.ErrWaitDelay):
		return stderr.wrap(fmt.Errorf("exec %s: exited, but a process it started outside its process group kept stdout or stderr open; output may be incomplete: %w", name, err))
	default:
		return stderr.wrap(fmt.Errorf("exec %s: %w", name, err))
	}
}

// dirProblem explains a start failure caused by the working directory, which
// the system reports just like a missing command ("fork/exec /bin/x: no
// such file or directory").
func (h *execHandler) dirProblem() string {
	if h.opts.Dir == "" {
		return ""
	}
	fi, err := os.Stat(h.opts.Dir)
	switch {
	case err != nil:
		return fmt.Sprintf(" (working directory: %v)", err)
	case !fi.IsDir():
		return fmt.Sprintf(" (working directory %s is not a directory)", h.opts.Dir)
	}
	return ""
}

// isAssignment reports whether word is NAME=value, which a shell would take
// for an environment assignment rather than the command.
func isAssignment(word string) bool {
	name, _, ok := strings.Cut(word, "=")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, c := range name {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// jobEnv is the job's identity as environment variables.
func jobEnv(job *Job) []string {
	return []string{
		EnvJobID + "=" + job.ID,
		EnvJobType + "=" + job.Type,
		sessiontable.EnvSessionID + "=" + job.SessionID,
		sessiontable.EnvActive + "=" + strconv.FormatBool(job.Active),
		EnvFencingToken + "=" + strconv.FormatInt(job.FencingToken, 10),
		EnvAttempt + "=" + strconv.Itoa(job.Attempt),
		sessiontable.EnvApplicationID + "=" + job.AppID,
		EnvQueue + "=" + job.Queue,
		EnvSeq + "=" + strconv.FormatInt(job.Seq, 10),
	}
}

// startError is a command that could not be started; permanent when
// retrying cannot help (not found, not executable, no such directory), as
// opposed to a lack of resources (processes, files, memory).
type startError struct {
	err       error
	permanent bool
}

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// headBuffer keeps the first max bytes written to it and discards the rest,
// always reporting success so that the command is not cut off by EPIPE.
type headBuffer struct {
	buf []byte
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *headBuffer) Bytes() []byte { return b.buf }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf       []byte
	max       int
	truncated bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.max {
		b.truncated = b.truncated || len(b.buf) > 0 || len(p) > b.max
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if drop := len(b.buf) + len(p) - b.max; drop > 0 {
		b.truncated = true
		b.buf = append(b.buf[:0], b.buf[drop:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// wrap adds the tail of stderr, when there is one, to err's text.
func (b *tailBuffer) wrap(err error) error {
	tail, cut := b.tail()
	if tail == "" {
		return err
	}
	return &stderrError{err: err, tail: tail, cut: cut}
}

// suffix is the trimmed tail of stderr for an error text, or "".
func (b *tailBuffer) suffix() string {
	if se, ok := b.wrap(nil).(*stderrError); ok {
		return se.suffix()
	}
	return ""
}

// tail is the trimmed tail of stderr, and whether its start was cut.
func (b *tailBuffer) tail() (string, bool) {
	t := b.buf
	if b.truncated {
		// Do not start in the middle of a UTF-8 sequence.
		for i := 0; i < utf8.UTFMax && len(t) > 0 && !utf8.RuneStart(t[0]); i++ {
			t = t[1:]
		}
	}
	return strings.TrimSpace(string(t)), b.truncated
}

// stderrError is the error of a failed exec command with the tail of its
// stderr: the job keeps it whole as its error, the worker logs it without
// the tail (which may hold payload text; see Config.ExecStderrLog).
type stderrError struct {
	err  error
	tail string // trimmed; never empty
	cut  bool   // the start of the tail was cut
}

func (e *stderrError) Error() string { return e.err.Error() + e.suffix() }
func (e *stderrError) Unwrap() error { return e.err }

// suffix is what the tail adds to the error's text.
func (e *stderrError) suffix() string {
	if e.cut {
		return "; stderr: ..." + e.tail
	}
	return "; stderr: " + e.tail
}

// lastBytes is the end of s in at most n bytes, starting on a whole UTF-8
// sequence, "..." first when cut.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	for i := 0; i < utf8.UTFMax && len(s) > 0 && !utf8.RuneStart(s[0]); i++ {
		s = s[1:]
	}
	return "..." + s
}

// inheritedEnv is the worker's environment without its own SESSIONQ_*
// configuration (the Redis URL may hold a password): a command gets the
// SESSIONQ_* variables of its job only.
func inheritedEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SESSIONQ_") {
			out = append(out, kv)
		}
	}
	return out
}
