package testservers

import (
	"os/exec"
	"syscall"
)

// configureProcess puts the server in its own process group, so Stop can
// signal everything it spawned, and asks the kernel to kill it if the test
// binary dies first (a panic or a -timeout), so no server outlives its tests.
func configureProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the whole group
	_ = cmd.Process.Kill()
}
