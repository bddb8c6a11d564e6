package pgstore

import (
	"context"

	"github.com/leaselock/leaselock/lock"
)

// CommitAndRelease runs fn in one transaction with l's release (see
// lock.Lock.CommitAndRelease and Store.CommitRelease): the typed form, so
// a wrong ops type does not compile. Either fn's writes commit and the lock
// is released in the same COMMIT, or neither happens.
func CommitAndRelease(ctx context.Context, l *lock.Lock, fn TxFunc, opts ...lock.ReleaseOption) error {
	return l.CommitAndRelease(ctx, fn, opts...)
}

// WriteGuarded runs fn in a transaction that commits only while l is still
// held (see lock.Lock.WriteGuarded and Store.WriteGuarded): the typed form.
func WriteGuarded(ctx context.Context, l *lock.Lock, fn TxFunc) error {
	return l.WriteGuarded(ctx, fn)
}
