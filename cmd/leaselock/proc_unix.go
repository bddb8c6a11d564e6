//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// forwardedSignals are passed on to the command.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// terminalRestorer returns what gives the terminal back to leaselock's
// process group after the command, which the supervisor made the
// terminal's foreground group, has exited. A no-op when stdin is not a
// terminal.
func terminalRestorer(stdin any) (restore func()) {
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(int(f.Fd())) {
		return func() {}
	}
	fd := int(f.Fd())
	return func() {
		// A background process that changes the foreground group is
		// sent SIGTTOU; ignore it for the call.
		signal.Ignore(syscall.SIGTTOU)
		defer signal.Reset(syscall.SIGTTOU)
		_ = setForeground(fd, syscall.Getpgrp())
	}
}

// signalExitCode is the shell's code for death by sig: 128 + its number.
func signalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return exitSoftware
}
