package backend

import "context"

// Lister is an optional capability: enumerate locks, for operators and the
// CLI. Pages are returned in store order; Next is empty on the last page.
type Lister interface {
	List(ctx context.Context, req ListRequest) (ListPage, error)
}

// ListRequest selects one page of records.
type ListRequest struct {
	Partition string // when set, only records of this partition key
	Limit     int    // page size; 0 means the store's default
	PageToken string // from the previous page's Next; empty for the first page
}

// ListPage is one page of a listing.
type ListPage struct {
	Records []Record
	Next    string
}

// Guard identifies the lease an application write depends on: the write
// commits only if the lock record still has this owner and fencing token and
// is not released. Heartbeats change the version but not the token, so a
// guard stays valid for the whole tenure of one acquisition.
type Guard struct {
	Key   Key
	Owner string
	Token uint64
}

// GuardedWriter is an optional capability: commit the application's own
// writes atomically with a check that the lock is still held. Ops is
// store-specific (for dynamostore, []types.TransactWriteItem; for memstore,
// a func() error run under the store's lock). When the guard no longer holds
// the store returns an error that errors.Is ErrGuardFailed, distinct from a
// failure of the application's own conditions.
type GuardedWriter interface {
	WriteGuarded(ctx context.Context, g Guard, ops any) error
}
