//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// newSession starts c in a session (and process group) of its own, as a
// daemon does: a process-group signal no longer reaches it.
func newSession(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
