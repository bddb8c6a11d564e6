package lock

import (
	"errors"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// Fair hand-off. A holder that releases a key and at once acquires it again
// needs one request; a waiter polls once per poll period. Without help the
// releaser wins almost every time and waiters starve (4 clients on one key,
// holding 5 ms each: one waited 7 s, the releaser took 99% of the turns).
//
// Waiters cannot be seen in the record (they only read it), so a client
// yields on evidence, and briefly on suspicion:
//
//   - after releasing a key that another owner held while this client
//     waited for it within the last lease, it gives waiters half a poll
//     period before trying again; a waiter that saw the key pass to others
//     polls more often (acquire.go), so the longest waiter tends to be the
//     one that takes it. Half a period measured best on dynalite: a whole
//     one left the key idle longer (45 acquisitions/s against 69, 4
//     clients, 5 ms holds), a quarter made shares less even;
//   - a client that took a key straight back maxStreak times in a row
//     pauses a few store round trips (at most a tenth of a poll period)
//     before the next time: a waiter it never saw cannot win the gap
//     between a release and an immediate re-acquire (its read and its
//     write cost two round trips to the releaser's one), but it can win
//     that pause. Once it has, the former holder has waited itself, and
//     yields fully from then on.
//
// Yielding costs no request; TryAcquire never yields. An uncontended loop
// on one key pays the short pause once per maxStreak cycles: nothing on an
// in-memory store, whose round trip is below minPause.

const (
	maxStreak    = 4                     // immediate re-acquisitions before a short pause
	pauseTrips   = 2                     // the short pause, in store round trips
	minPause     = 50 * time.Microsecond // shorter pauses are skipped: no waiter could use them
	maxYields    = 4096                  // keys remembered; past it the oldest go (less polite, never unsafe)
	rttSmoothing = 8                     // the round-trip average moves by 1/8 of each sample
)

// noteRoundTrip folds one store write's duration into the client's
// average round trip, if the store answered it (success or conflict): a
// timeout measures the deadline, not the store.
func (c *Client) noteRoundTrip(d time.Duration, err error) {
	if err != nil && !errors.Is(err, backend.ErrConflict) {
		return
	}
	for {
		old := c.rtt.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/rttSmoothing
		}
		if c.rtt.CompareAndSwap(old, next) {
			return
		}
	}
}

// handOff is what a client remembers of a key it released; the map holds
// pointers, so that each release and acquire updates it in place.
type handOff struct {
	releasedAt  instant // when the release's answer came (see releaseRecord)
	contendedAt instant // last time another owner held it while we waited; zero: never
	streak      int     // immediate re-acquisitions in a row
}

// releasedLocked notes that this client released key at now; contended
// says another owner held the key while this lock's Acquire waited.
// Callers hold c.mu.
func (c *Client) releasedLocked(key backend.Key, contended bool, now instant) {
	if c.handOffs == nil {
		c.handOffs = map[backend.Key]*handOff{}
	}
	h := c.handOffs[key]
	if h == nil {
		if len(c.handOffs) >= maxYields {
			for k, old := range c.handOffs {
				if now.sub(old.releasedAt) >= c.cfg.lease {
					delete(c.handOffs, k)
				}
			}
			if len(c.handOffs) >= maxYields {
				clear(c.handOffs)
			}
		}
		h = new(handOff)
		c.handOffs[key] = h
	}
	h.releasedAt = now
	if contended {
		h.contendedAt = now
	}
}

// yieldForLocked returns how long an Acquire of key starting at now
// should hold back so that waiters get their turn (see the package comment
// above). Callers hold c.mu.
func (c *Client) yieldForLocked(key backend.Key, now instant) time.Duration {
	h := c.handOffs[key]
	if h == nil {
		return 0
	}
	since := max(0, now.sub(h.releasedAt)) // the release's date may be estimated a little late
	if since >= c.cfg.poll {
		delete(c.handOffs, key) // not an immediate re-acquisition
		return 0
	}
	if h.contendedAt != 0 && now.sub(h.contendedAt) < c.cfg.lease {
		return max(0, c.cfg.poll/2-since)
	}
	if h.streak++; h.streak < maxStreak {
		return 0
	}
	h.streak = 0
	pause := min(c.cfg.poll/10, pauseTrips*time.Duration(c.rtt.Load()))
	if pause < minPause {
		return 0
	}
	return pause - min(since, pause)
}
