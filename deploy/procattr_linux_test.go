package deploy

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill cmd when the test process dies, so
// that no fleet outlives a crashed or killed test run.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
