package lock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// State is what Get can honestly say about a key.
type State int

// States of a key as seen by one client.
const (
	StateFree     State = iota // no record
	StateReleased              // a record marked released: free to acquire
	StateLocked                // another owner's lease, not known to have ended
	StateOwned                 // a lease this client holds
	StateExpired               // another owner's lease this client has watched end
)

func (s State) String() string {
	switch s {
	case StateFree:
		return "free"
	case StateReleased:
		return "released"
	case StateLocked:
		return "locked"
	case StateOwned:
		return "owned"
	case StateExpired:
		return "expired"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Info describes a key's record. Data and Attributes are copies.
type Info struct {
	Key, SortKey string
	State        State
	Owner        string
	// Token is the fencing token of the acquisition that wrote the
	// record; 0 when the record carries none (written by a client that
	// keeps no fencing counter, such as the Java client's PutItem).
	Token         uint64
	Version       string
	LeaseDuration time.Duration
	Data          []byte
	Attributes    map[string]string
	// ObservedFor is how long this client has seen the same version; a
	// lease is only reported StateExpired once this reaches LeaseDuration.
	ObservedFor time.Duration
}

// Get reads key (with sortKey, "" for none) without acquiring it. Another
// owner's lock is reported StateLocked until this client has itself watched
// its version unchanged for a whole lease: one read cannot tell a live
// lease from a dead one, and claiming "expired" from the record alone is
// the mistake that lets two owners in.
func (c *Client) Get(ctx context.Context, key, sortKey string) (Info, error) {
	if err := c.checkOpen(); err != nil {
		return Info{}, err
	}
	k, err := c.key(key, sortKey)
	if err != nil {
		return Info{}, err
	}
	info := Info{Key: k.Partition, SortKey: k.Sort}
	rec, err := c.store.Get(ctx, k)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return info, nil
	case errors.Is(err, backend.ErrInvalid):
		return info, invalid("get", k, err)
	case err != nil:
		return info, fmt.Errorf("lock: get %q: %w", k, err)
	}
	info.Owner, info.Token, info.Version = rec.Owner, rec.Token, rec.Version
	info.LeaseDuration, info.Data, info.Attributes = rec.LeaseDuration, rec.Data, rec.Attributes
	c.mu.Lock()
	mine := c.held[k]
	c.mu.Unlock()
	switch {
	case rec.Released:
		info.State = StateReleased
	case mine != nil && mine.Token() == rec.Token && rec.Owner == c.cfg.owner:
		info.State = StateOwned
	default:
		info.ObservedFor = c.observe(k, rec)
		info.State = StateLocked
		if info.ObservedFor >= rec.LeaseDuration || c.wallExpired(rec) {
			info.State = StateExpired
		}
	}
	return info, nil
}
