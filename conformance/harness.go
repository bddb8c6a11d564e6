package conformance

import (
	"testing"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/conformance/netfault"
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

	// SortKeys declares how the store treats Key.Sort; see SortKeyMode.
	// Left undeclared, the suite uses no sort values and skips the clauses
	// that check how sort keys are told apart or refused.
	SortKeys SortKeyMode

	// Races is how many two-handle races to run on one key; default 1000.
	// The churn clauses (many acquisitions on one key from both handles)
	// run a quarter of it per handle, at least 50.
	Races int

	// GuardedOp, for a store that implements backend.GuardedWriter, returns
	// an ops value for WriteGuarded that writes one application item, and a
	// function reporting whether that item was written. It may be left nil
	// when GuardedOpDuring is set.
	GuardedOp func(t *testing.T, s backend.Store) (ops any, written func() bool)

	// GuardedOpDuring is GuardedOp with a hook: the returned ops must call
	// during exactly once from inside the store's atomic step, after the
	// guard was checked and before the write commits (memstore: inside the
	// func() error it runs under its lock; a SQL store: inside the
	// transaction, after the guard's SELECT ... FOR UPDATE). The suite
	// uses it to attempt a takeover while the guarded write is open, which
	// is the only way to catch a store that checks the guard and then
	// writes in a separate step. Stores whose guarded write runs wholly on
	// a server (DynamoDB's TransactWriteItems) cannot call a hook there and
	// leave it nil; that clause is then skipped.
	GuardedOpDuring func(t *testing.T, s backend.Store, during func()) (ops any, written func() bool)

	// ConflictReadsBack declares that the store fills ConflictError.Current
	// by reading the record after a refused write, in a separate step,
	// rather than taking it from the refused write itself (dynamostore on
	// servers that ignore ReturnValuesOnConditionCheckFailure). Such a
	// Current may be newer than the state that refused the write; the
	// engine copes, since it then only learns of later changes, but the
	// clause requiring Current to come from the same atomic step is
	// skipped. Leave it false for a store that can do better.
	ConflictReadsBack bool

	// TokensMaySkip declares that the store's fencing tokens strictly
	// increase from one tenure of a key to the next but may skip values:
	// the token is drawn from a counter in a step after the lock write
	// (dynamostore's counter items), or from a counter shared by many keys
	// (a SQL sequence). The clauses then require each acquisition's token
	// to be larger than the one it follows, and at least 1, instead of
	// exactly one more; everything else (uniqueness, real-time order, the
	// replaced record coming from the same step) is checked as for any
	// store. Leave it false for a store whose write itself advances the
	// token by one.
	TokensMaySkip bool

	// NewStoresBehindProxy, for a store that talks to a server over TCP,
	// returns two handles on one fresh, empty store: behind, whose every
	// connection goes through p, a netfault.Proxy started in front of the
	// store's server (netfault.Start(t, serverAddr)), and direct, which
	// reaches the server without it. The Errors clauses cut p's
	// connections around single calls of behind, then check the error it
	// reported against what direct finds stored. Nil skips them.
	NewStoresBehindProxy func(t *testing.T) (behind, direct backend.Store, p *netfault.Proxy)

	// FailingOp, for a store that implements backend.ReleaseCommitter,
	// returns ops that fail when applied (an application condition that
	// does not hold). The CommitRelease clauses check that nothing of a
	// failed commit applies and the lock stays held. Nil skips that clause.
	FailingOp func(t *testing.T, s backend.Store) (ops any)
}

// SortKeyMode says how a store treats the sort part of a backend.Key.
type SortKeyMode int

const (
	// SortKeysUndeclared (the zero value): the suite uses keys without a
	// sort value and checks nothing about sort keys.
	SortKeysUndeclared SortKeyMode = iota
	// SortKeysNone: the store has no sort key. A key with a sort value
	// must be refused with ErrInvalid: ignoring it would make two
	// different locks one.
	SortKeysNone
	// SortKeysOptional: a key may carry a sort value or not, and
	// {p, ""}, {p, "a"} and {p, "b"} are three different locks (memstore).
	SortKeysOptional
	// SortKeysRequired: every key needs a sort value (a DynamoDB table
	// with a sort key); a key without one must be refused with ErrInvalid.
	SortKeysRequired
)

func (m SortKeyMode) String() string {
	switch m {
	case SortKeysUndeclared:
		return "undeclared"
	case SortKeysNone:
		return "none"
	case SortKeysOptional:
		return "optional"
	case SortKeysRequired:
		return "required"
	}
	return "SortKeyMode(invalid)"
}

// guardedOp returns the harness's GuardedOp, or one derived from
// GuardedOpDuring with a hook that does nothing; nil when neither is set.
func (h StoreHarness) guardedOp() func(t *testing.T, s backend.Store) (any, func() bool) {
	if h.GuardedOp != nil || h.GuardedOpDuring == nil {
		return h.GuardedOp
	}
	return func(t *testing.T, s backend.Store) (any, func() bool) {
		return h.GuardedOpDuring(t, s, func() {})
	}
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
