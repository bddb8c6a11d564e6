//go:build !linux

package pyinterop

import "os/exec"

func configureProcess(*exec.Cmd) {}
