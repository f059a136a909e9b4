//go:build !linux

package worker

import (
	"errors"
	"os/exec"
)

// execSupported fails: the exec handler's guarantees (a command that dies
// with its worker, process-group kill) are built on Linux's parent-death
// signal.
func execSupported() error {
	return errors.New("worker: the exec handler is supported on Linux only")
}

func runCommand(*exec.Cmd) error { return errors.ErrUnsupported }
