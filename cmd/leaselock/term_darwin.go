package main

import (
	"syscall"
	"unsafe"
)

// setDeathSignal: macOS has no parent-death signal; a command whose
// leaselock is killed goes on running (see docs/cli.md).
func setDeathSignal(*syscall.SysProcAttr) {}

func isTerminal(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCGETA, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

func setForeground(fd, pgrp int) error {
	p := int32(pgrp)
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCSPGRP, uintptr(unsafe.Pointer(&p)))
	if errno != 0 {
		return errno
	}
	return nil
}
