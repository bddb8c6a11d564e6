//go:build unix

package main

import "golang.org/x/sys/unix"

// monoNow reads CLOCK_MONOTONIC, which all processes on the host share:
// run tells its supervisor when the lease ends as a point on this clock,
// so that the time a message spends in the pipe cannot delay the end.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("leaselock: CLOCK_MONOTONIC: " + err.Error()) // exists on every unix Go supports
	}
	return ts.Nano()
}
