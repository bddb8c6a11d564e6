package lock

import (
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/internal/wallclock"
)

// stamp gives the record a fresh version for a write about to be sent: a
// UUIDv7 that carries the wall-clock milliseconds (internal/wallclock), as
// the Java client's random UUIDs are the same shape. It returns the
// instant of the clock reading, the write's send time: one reading serves
// both.
func (c *Client) stamp(rec *backend.Record) instant { return c.stampAt(rec, time.Time{}) }

// stampAt is stamp with a clock reading taken earlier, before the write
// is sent; zero: read the clock now.
func (c *Client) stampAt(rec *backend.Record, now time.Time) instant {
	if now.IsZero() {
		now = c.clk.Now()
	}
	rec.Version = wallclock.NewVersion(now)
	return c.instantOf(now)
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
