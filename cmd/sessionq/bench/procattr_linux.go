//go:build linux

package bench

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the redis-server child when the bench
// dies, so that an interrupted bench leaves no server behind.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
