package lock

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/wallclock"
)

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

// stamp sets the record's version and wall-clock stamp for a new write.
func (c *Client) stamp(rec *backend.Record, now time.Time) {
	rec.Version = newVersion()
	attrs := make(map[string]string, len(rec.Attributes)+1)
	for k, v := range rec.Attributes {
		attrs[k] = v
	}
	attrs[wallclock.Attribute] = wallclock.Stamp(now, rec.Version)
	rec.Attributes = attrs
}

// wallExpired reports whether, by the wall clock and the declared maximum
// skew, rec's lease has certainly ended.
func (c *Client) wallExpired(rec backend.Record) bool {
	if c.cfg.wallSkew <= 0 {
		return false
	}
	written, ok := wallclock.WrittenAt(rec)
	return ok && c.clk.Now().After(written.Add(rec.LeaseDuration+c.cfg.wallSkew))
}
