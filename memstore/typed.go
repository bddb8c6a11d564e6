package memstore

import (
	"context"

	"github.com/leaselock/leaselock/lock"
)

// WriteGuarded runs fn under the store's lock only while l is still held
// (see lock.Lock.WriteGuarded): the typed form of the call, so a wrong ops
// type does not compile.
func WriteGuarded(ctx context.Context, l *lock.Lock, fn func() error) error {
	return l.WriteGuarded(ctx, fn)
}

// CommitAndRelease runs fn and releases l in one step under the store's
// lock, or does neither (see lock.Lock.CommitAndRelease). fn must apply all
// of its writes or none: it is the application's part of the transaction.
func CommitAndRelease(ctx context.Context, l *lock.Lock, fn func() error, opts ...lock.ReleaseOption) error {
	return l.CommitAndRelease(ctx, fn, opts...)
}
