//go:build !unix

package main

import (
	"errors"
	"os"
	"os/exec"
)

var forwardedSignals = []os.Signal{os.Interrupt}

func configureChild(cmd *exec.Cmd, stdin any) func() { return func() {} }

func signalChild(cmd *exec.Cmd, sig os.Signal) error {
	if sig == os.Interrupt {
		return cmd.Process.Signal(sig)
	}
	return cmd.Process.Kill()
}

var (
	terminateSignal os.Signal = os.Kill
	killSignal      os.Signal = os.Kill
)

func signalExitCode(os.Signal) int { return 130 }

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return exitSoftware
}
