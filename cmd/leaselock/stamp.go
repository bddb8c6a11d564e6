package main

import (
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/wallclock"
)

// writtenAtAttribute is the attribute in which leaselock clients before 1.0
// stamped every record; ls and get hide it from the attributes they list.
// Records written since carry the time in their version (a UUIDv7).
const writtenAtAttribute = wallclock.Attribute

// writtenAt is when the write that made rec's current version was sent,
// by the writer's wall clock, in UTC. It is false for records last written
// by other clients (the Java client), whose versions carry no time.
func writtenAt(rec backend.Record) (time.Time, bool) {
	t, ok := wallclock.WrittenAt(rec)
	return t.UTC(), ok
}
