package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// writtenAtAttribute is the attribute in which leaselock clients stamp
// every record they write with "<Unix milliseconds> <version>" (the lock
// package writes it; lock/version.go). ls and get read it for the
// last-renewed age, and hide it from the attributes they list. This file
// is the only place that knows the format: TestLsAndGet fails if the
// engine's stamp stops parsing here.
const writtenAtAttribute = "leaselockWrittenAtMillis"

// writtenAt is when the write that made rec's current version was sent,
// by the writer's wall clock, in UTC. It is false for records last written
// by other clients (the Java client), which leave no stamp, or leave one
// naming an older version.
func writtenAt(rec backend.Record) (time.Time, bool) {
	ms, version, ok := strings.Cut(rec.Attributes[writtenAtAttribute], " ")
	if !ok || version != rec.Version {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n).UTC(), true
}
