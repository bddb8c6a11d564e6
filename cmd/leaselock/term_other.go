//go:build unix && !linux && !darwin

package main

import "syscall"

// Elsewhere there is no parent-death signal, and a terminal on stdin is not
// recognised, so the command never gets the terminal's foreground.

func setDeathSignal(*syscall.SysProcAttr) {}

func isTerminal(int) bool { return false }

func setForeground(int, int) error { return nil }
