package lock

import "time"

// instant is a reading of the client's clock: the time since the client's
// epoch, a moment just before it was made. Every instant is positive, so
// zero can mean "not set". The engine keeps a lock's lease and scheduling
// times as instants: 8 bytes where a time.Time takes 24, which counts when
// a client holds a million locks, and a reading needs only the monotonic
// clock, not the wall clock too.
type instant time.Duration

// add returns the instant d after i.
func (i instant) add(d time.Duration) instant { return i + instant(d) }

// sub returns the time from j to i.
func (i instant) sub(j instant) time.Duration { return time.Duration(i - j) }

// now reads the client's clock.
func (c *Client) now() instant { return instant(c.clk.Since(c.epoch)) }

// instantOf converts a reading of the client's clock to an instant.
func (c *Client) instantOf(t time.Time) instant { return instant(t.Sub(c.epoch)) }
