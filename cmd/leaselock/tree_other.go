//go:build unix && !linux

package main

import (
	"errors"

	"golang.org/x/sys/unix"
)

// adoptOrphans: this system has no child subreaper; the supervisor sees
// only the command's process group, and a process that leaves it (setsid,
// setpgid) escapes. docs/cli.md says so.
func adoptOrphans() error { return nil }

// signalTree sends sig to the command's process group; it returns 1 if
// the group still had members, else 0.
func signalTree(pgid int, sig unix.Signal) int {
	if err := unix.Kill(-pgid, sig); errors.Is(err, unix.ESRCH) {
		return 0
	}
	return 1
}

// treeAlive reports 1 while the command's process group has members.
func treeAlive(pgid int) int {
	return signalTree(pgid, 0)
}
