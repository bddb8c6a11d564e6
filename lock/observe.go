package lock

import (
	"time"

	"github.com/leaselock/leaselock/backend"
)

// observation is when this client first saw a record version. A lease is
// over once the same version has been seen for the record's whole lease on
// the local monotonic clock: the holder would have changed the version with
// a heartbeat were it alive. Observations outlive Acquire calls, so a
// caller that retries later does not start counting from zero.
type observation struct {
	version string
	since   time.Time
}

// observe records rec and returns how long its version has been seen.
func (c *Client) observe(key backend.Key, rec backend.Record) time.Duration {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.seen[key]
	if !ok || o.version != rec.Version {
		c.seen[key] = observation{version: rec.Version, since: now}
		c.pruneSeen(now)
		return 0
	}
	return now.Sub(o.since)
}

// maxObservations bounds the memory kept for keys that were never taken.
const maxObservations = 10_000

// pruneSeen drops the oldest observations once there are too many; callers
// hold c.mu. Forgetting only delays a takeover, never hastens one.
func (c *Client) pruneSeen(now time.Time) {
	if len(c.seen) <= maxObservations {
		return
	}
	for k, o := range c.seen {
		if now.Sub(o.since) > time.Hour || len(c.seen) > maxObservations {
			delete(c.seen, k)
		}
	}
}
