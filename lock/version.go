package lock

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// wallClockAttribute carries "<Unix milliseconds> <version>" on every
// record we write, for the opt-in wall-clock expiry. The version binds the
// stamp to the write that made it: a client that updates the record without
// knowing the attribute (the Java client's UpdateItem acquisitions and
// heartbeats) leaves a stale stamp behind, and a stamp whose version is not
// the record's is ignored. It is reserved: WithAttributes refuses it.
const wallClockAttribute = WrittenAtAttribute

// WrittenAtAttribute names the record attribute behind WrittenAt, so tools
// that list records can hide it.
const WrittenAtAttribute = "leaselockWrittenAtMillis"

// newVersion returns a random version in UUID form, as the Java client
// writes, so mixed Go and Java tables look uniform.
func newVersion() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
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

// stamp sets the record's version and wall-clock attribute for a new write.
func (c *Client) stamp(rec *backend.Record, now time.Time) {
	rec.Version = newVersion()
	attrs := make(map[string]string, len(rec.Attributes)+1)
	for k, v := range rec.Attributes {
		attrs[k] = v
	}
	attrs[wallClockAttribute] = strconv.FormatInt(now.UnixMilli(), 10) + " " + rec.Version
	rec.Attributes = attrs
}

// WrittenAt returns the wall-clock time at which the write that produced
// rec's current version was sent, when a leaselock client made that write.
// It is false for records last written by other clients (the Java client),
// whose writes leave no stamp or a stamp naming an older version.
func WrittenAt(rec backend.Record) (time.Time, bool) {
	stamp, version, ok := strings.Cut(rec.Attributes[wallClockAttribute], " ")
	if !ok || version != rec.Version {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// wallExpired reports whether, by the wall clock and the declared maximum
// skew, rec's lease has certainly ended.
func (c *Client) wallExpired(rec backend.Record) bool {
	if c.cfg.wallSkew <= 0 {
		return false
	}
	written, ok := WrittenAt(rec)
	return ok && c.clk.Now().After(written.Add(rec.LeaseDuration+c.cfg.wallSkew))
}
