//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// forwardedSignals are passed on to the command.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// configureChild puts the command in a process group of its own, so that
// leaselock can signal it and everything it started, and so that signals
// reach it once (forwarded by leaselock), not twice. When stdin is a
// terminal the group is made the terminal's foreground group, so an
// interactive command can read it and gets ^C itself; the returned func
// gives the terminal back to leaselock after the command exits.
func configureChild(cmd *exec.Cmd, stdin any) (restore func()) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(attr)
	restore = func() {}
	if f, ok := stdin.(*os.File); ok && isTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		attr.Foreground, attr.Ctty = true, fd
		restore = func() {
			// A background process that changes the foreground group is
			// sent SIGTTOU; ignore it for the call.
			signal.Ignore(syscall.SIGTTOU)
			defer signal.Reset(syscall.SIGTTOU)
			_ = setForeground(fd, syscall.Getpgrp())
		}
	}
	cmd.SysProcAttr = attr
	return restore
}

// signalChild sends sig to the command's process group.
func signalChild(cmd *exec.Cmd, sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return cmd.Process.Signal(sig)
	}
	err := syscall.Kill(-cmd.Process.Pid, s)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone
	}
	return err
}

// terminate and kill are the two steps of stopping the command.
var (
	terminateSignal os.Signal = syscall.SIGTERM
	killSignal      os.Signal = syscall.SIGKILL
)

// signalExitCode is the shell's code for death by sig: 128 + its number.
func signalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return exitSoftware
}

// exitStatus turns the command's Wait error into an exit code the way a
// shell does: its own code, or 128 + the signal that killed it.
func exitStatus(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return exitSoftware
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
