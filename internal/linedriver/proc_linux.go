package linedriver

import (
	"os/exec"
	"syscall"
)

// ConfigureProcess has the kernel kill the child if the test binary dies
// first (a panic or -timeout), so no child outlives its test.
func ConfigureProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
