//go:build linux

package worker

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

func execSupported() error { return nil }

// runCommand starts cmd in a process group of its own and waits for it. A
// failed start is a *startError.
//
// Parent-death signal: Pdeathsig makes the kernel SIGKILL the command when
// its parent dies, so a worker killed with kill -9 leaves no command behind.
// The "parent" is the OS thread that forked the child, not the process:
// Linux sends the signal when that thread exits. The Go runtime moves
// goroutines between threads and ends a thread when a goroutine locked to it
// exits without unlocking, so a command forked from an unlocked goroutine
// could be killed at a random moment while the worker lives. runCommand
// therefore locks its goroutine to its thread from Start until Wait has
// returned. Pdeathsig covers the direct child only: processes the command
// starts (grandchildren) outlive a killed worker unless they arrange their
// own. That is why the direct child is the configured command itself,
// never a shell wrapper.
//
// Process group: Setpgid puts the command in a new group whose id is its
// pid. cmd.Cancel, called by os/exec when the context is done, sends SIGKILL
// to the whole group, grandchildren included. When the command exits, the
// group is killed again to end whatever it left running; this happens while
// the exited command is still an unreaped zombie (waitid with WNOWAIT), so
// its pid, the group id, cannot yet have been reused by another process.
// For the same reason cmd.Cancel does nothing once the exit has been seen.
// cmd.WaitDelay (set by the caller) bounds Wait when a process that left the
// group still holds the command's stdout or stderr.
func runCommand(cmd *exec.Cmd) error {
	var (
		mu     sync.Mutex
		exited bool // the command exited; its pid may be reaped and reused
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		mu.Lock()
		defer mu.Unlock()
		if exited {
			return os.ErrProcessDone
		}
		return killGroup(cmd.Process.Pid)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return &startError{err: err, permanent: permanentStartError(err)}
	}
	pid := cmd.Process.Pid
	waitExited(pid)
	mu.Lock()
	exited = true
	_ = killGroup(pid)
	mu.Unlock()
	return cmd.Wait()
}

// waitExited blocks until the process pid has exited, without reaping it.
// On an unexpected error it returns, and cmd.Wait has the last word.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// killGroup sends SIGKILL to the process group pgid; os.ErrProcessDone when
// the group has no process left.
func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// permanentStartError reports whether a failure to start a command will
// recur on every attempt: not found, not executable, no such directory, bad
// arguments. Running out of processes, files or memory, and a binary that is
// being written (ETXTBSY), can pass.
func permanentStartError(err error) bool {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EAGAIN, syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EINTR, syscall.ETXTBSY:
			return false
		}
	}
	return true
}
