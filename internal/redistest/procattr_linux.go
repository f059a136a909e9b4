//go:build linux

package redistest

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel send SIGKILL to the redis-server child when
// the test binary dies, so that a killed test run leaves no server behind.
// (Linux sends it when the thread that started the child exits; the Go
// runtime only ends threads of goroutines that exit while locked to one.)
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
