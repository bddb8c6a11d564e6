package javainterop

import (
	"os/exec"
	"syscall"
)

// configureProcess has the kernel kill the JVM if the test binary dies
// first (a panic or -timeout), so no JVM outlives its test.
func configureProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
