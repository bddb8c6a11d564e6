// Package wallclock is the wall-clock time of the write that produced a
// record's current version. The lock engine writes every version as a
// UUIDv7, whose first 48 bits are the Unix milliseconds of the moment the
// write was sent: the version carries its own time, needs no attribute of
// its own, and cannot go stale. A client that writes without knowing it
// (the Java client's acquisitions and heartbeats write random v4 UUIDs)
// leaves a version with no time in it.
//
// Records written by earlier leaselock versions carry the time in an
// attribute ("<Unix milliseconds> <version>"), bound to the version it was
// written with; WrittenAt still reads it.
//
// The engine uses it for the opt-in wall-clock expiry; the CLI shows how
// long ago a record was last written. It is internal so that it is no part
// of the public API.
package wallclock

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// Attribute names the attribute in which earlier leaselock versions kept
// the write time. The engine reserves it: applications cannot set it.
const Attribute = "leaselockWrittenAtMillis"

// VersionLen is the length of a version: a UUID's text form.
const VersionLen = 36

// NewVersion returns a fresh UUIDv7 for a write sent at now: its first 48
// bits are now's Unix milliseconds, the rest random (RFC 9562). A version
// must be unique, not secret: the runtime's ChaCha8 generator gives 74
// random bits without the allocation crypto/rand's reader costs.
func NewVersion(now time.Time) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	binary.LittleEndian.PutUint16(b[6:], uint16(rand.Uint32()))
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70 // version 7
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var out [VersionLen]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// fromVersion returns the time in a UUIDv7 version.
func fromVersion(v string) (time.Time, bool) {
	if len(v) != VersionLen || v[8] != '-' || v[13] != '-' || v[18] != '-' || v[23] != '-' || v[14] != '7' {
		return time.Time{}, false
	}
	switch v[19] { // the variant: 10xx
	case '8', '9', 'a', 'b', 'A', 'B':
	default:
		return time.Time{}, false
	}
	var b [6]byte
	if _, err := hex.Decode(b[0:4], []byte(v[0:8])); err != nil {
		return time.Time{}, false
	}
	if _, err := hex.Decode(b[4:6], []byte(v[9:13])); err != nil {
		return time.Time{}, false
	}
	var ms int64
	for _, x := range b {
		ms = ms<<8 | int64(x)
	}
	return time.UnixMilli(ms), true
}

// WrittenAt returns the wall-clock time at which the write that produced
// rec's current version was sent, when a leaselock client made that write.
// It is false for records last written by other clients.
func WrittenAt(rec backend.Record) (time.Time, bool) {
	if t, ok := fromVersion(rec.Version); ok {
		return t, true
	}
	// An earlier leaselock's stamp, valid only for the version it names.
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
