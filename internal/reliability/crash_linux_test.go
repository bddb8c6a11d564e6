package reliability

import (
	"os/exec"
	"syscall"
)

// configureChild makes the kernel kill a child holder if this test binary
// dies first, so none outlives its test.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
