package lock

import (
	"time"

	"github.com/leaselock/leaselock/backend"
)

// Fair hand-off. A holder that releases a key and at once acquires it again
// needs one request; a waiter polls once per poll period. Without help the
// releaser wins almost every time and waiters starve (4 clients on one key,
// holding 5 ms each: one waited 7 s, the releaser took 99% of the turns).
//
// So a client that releases a key it had to wait for — others wanted it —
// gives waiters one poll period before it tries again: every waiter polls
// once in that window, and the first to poll takes the key. It costs no
// request. A client that never waited (no contention seen) re-acquires at
// once, and TryAcquire never waits.

// maxYields bounds the keys remembered; past it the oldest are forgotten,
// which only makes a client less polite, never unsafe.
const maxYields = 4096

// yielded notes that this client released key, which others waited for.
func (c *Client) yielded(key backend.Key) {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.yields == nil {
		c.yields = map[backend.Key]time.Time{}
	}
	if len(c.yields) >= maxYields {
		for k, at := range c.yields {
			if now.Sub(at) >= c.cfg.poll {
				delete(c.yields, k)
			}
		}
		if len(c.yields) >= maxYields {
			clear(c.yields)
		}
	}
	c.yields[key] = now
}

// yieldFor returns how long an Acquire of key should hold back so that
// waiters get their turn: the rest of a poll period since this client
// released it, if others waited for it.
func (c *Client) yieldFor(key backend.Key) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.yields[key]
	if !ok {
		return 0
	}
	delete(c.yields, key)
	return c.cfg.poll - c.clk.Since(at)
}
