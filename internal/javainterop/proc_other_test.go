//go:build !linux

package javainterop

import "os/exec"

func configureProcess(*exec.Cmd) {}
