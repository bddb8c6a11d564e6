package pyinterop

import (
	"os/exec"
	"syscall"
)

// configureProcess has the kernel kill a child if the test binary dies
// first (a panic or -timeout), so no driver outlives its test.
func configureProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
