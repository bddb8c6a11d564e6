//go:build !linux

package linedriver

import "os/exec"

// ConfigureProcess does nothing where the kernel cannot kill a child with
// its parent.
func ConfigureProcess(*exec.Cmd) {}
