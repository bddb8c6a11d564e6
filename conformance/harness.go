package conformance

import (
	"testing"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// StoreHarness supplies fresh stores to RunStore.
type StoreHarness struct {
	// NewStores returns two handles on one fresh, empty store (for
	// DynamoDB: two clients on one new table). The handles are used
	// concurrently to race for keys. Cleanup is registered on t.
	NewStores func(t *testing.T) (a, b backend.Store)

	// MaxKeyBytes is the longest partition key, in bytes, the store accepts
	// (DynamoDB: 2048). Zero means no limit; the suite then tries 64 KiB.
	MaxKeyBytes int

	// MaxDataBytes is the largest lock data the store accepts. Zero means
	// no limit; the suite always tries at least 350 KB unless this is
	// smaller.
	MaxDataBytes int

	// SortKeys says the store keeps a sort key apart from the partition key
	// and needs one on every key (a DynamoDB table with a sort key): the
	// suite then gives every key a non-empty sort value.
	SortKeys bool

	// Races is how many two-handle races to run on one key; default 1000.
	Races int

	// GuardedOp, for a store that implements backend.GuardedWriter, returns
	// an ops value for WriteGuarded that writes one application item, and a
	// function reporting whether that item was written.
	GuardedOp func(t *testing.T, s backend.Store) (ops any, written func() bool)
}

// LockHarness supplies fresh stores to RunLock.
type LockHarness struct {
	// NewStores returns two handles on one fresh, empty store.
	NewStores func(t *testing.T) (a, b backend.Store)

	// Remote says each store call is a network round trip. The suite then
	// runs in real time with short leases (Lease) and fewer iterations.
	// Otherwise every case runs in a testing/synctest bubble: 20-second
	// leases cost no wall-clock time and nothing really sleeps.
	Remote bool

	// GuardedOp is as in StoreHarness; nil skips the guarded-write case.
	GuardedOp func(t *testing.T, s backend.Store) (ops any, written func() bool)

	// Lease is the lease used when Remote (default 1s); heartbeats run at a
	// quarter of it and polls at a tenth.
	Lease time.Duration
}
