// Package wallclock is the wall-clock stamp the lock engine writes on every
// record: "<Unix milliseconds> <version>" in one attribute. The version
// binds the stamp to the write that made it: a client that updates the
// record without knowing the attribute (the Java client's UpdateItem
// acquisitions and heartbeats) leaves a stale stamp behind, and a stamp
// whose version is not the record's is ignored.
//
// The engine uses it for the opt-in wall-clock expiry; the CLI shows how
// long ago a record was last renewed. It is internal so that it is no part
// of the public API.
package wallclock

import (
	"strconv"
	"strings"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// Attribute names the record attribute that carries the stamp. The engine
// reserves it: applications cannot set it.
const Attribute = "leaselockWrittenAtMillis"

// Stamp returns the attribute value for a write of version at now.
func Stamp(now time.Time, version string) string {
	return strconv.FormatInt(now.UnixMilli(), 10) + " " + version
}

// WrittenAt returns the wall-clock time at which the write that produced
// rec's current version was sent, when a leaselock client made that write.
// It is false for records last written by other clients, whose writes
// leave no stamp or a stamp naming an older version.
func WrittenAt(rec backend.Record) (time.Time, bool) {
	stamp, version, ok := strings.Cut(rec.Attributes[Attribute], " ")
	if !ok || version != rec.Version {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}
