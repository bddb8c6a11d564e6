package lock

import (
	"container/list"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// observation is when this client first saw a record version. A lease is
// over once the same version has been seen for the record's whole lease on
// the local monotonic clock: the holder would have changed the version with
// a heartbeat were it alive. Observations outlive Acquire calls, so a
// caller that retries later does not start counting from zero.
type observation struct {
	key     backend.Key
	version string
	since   time.Time
}

// maxObservations bounds the memory kept for keys that were never taken.
const maxObservations = 10_000

// observations remembers, per key, the version seen and since when, up to
// maxObservations keys. The list runs oldest first (a new version moves its
// key to the back), so the oldest is dropped in constant time. Forgetting
// only delays a takeover, never hastens one. Callers hold the client's mu.
type observations struct {
	byKey map[backend.Key]*list.Element // of *observation
	order list.List
}

func newObservations() *observations {
	return &observations{byKey: map[backend.Key]*list.Element{}}
}

// observe records version for key at now and returns how long that version
// has been seen.
func (o *observations) observe(key backend.Key, version string, now time.Time) time.Duration {
	if e, ok := o.byKey[key]; ok {
		ob := e.Value.(*observation)
		if ob.version == version {
			return now.Sub(ob.since)
		}
		ob.version, ob.since = version, now
		o.order.MoveToBack(e)
		return 0
	}
	o.byKey[key] = o.order.PushBack(&observation{key: key, version: version, since: now})
	for o.order.Len() > maxObservations {
		oldest := o.order.Front()
		delete(o.byKey, oldest.Value.(*observation).key)
		o.order.Remove(oldest)
	}
	return 0
}

// forget drops key (it is held by this client now).
func (o *observations) forget(key backend.Key) {
	if e, ok := o.byKey[key]; ok {
		delete(o.byKey, key)
		o.order.Remove(e)
	}
}

// len is the number of keys remembered.
func (o *observations) len() int { return o.order.Len() }

// observe records rec and returns how long its version has been seen.
func (c *Client) observe(key backend.Key, rec backend.Record) time.Duration {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen.observe(key, rec.Version, now)
}
