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

// ReleaseCommitter is an optional capability: commit the application's own
// writes and release the lock in one atomic step, so either both happen or
// neither does. It closes the gap a lease alone leaves: a holder delayed
// past its lease cannot have committed its work unless it still held the
// lock at the moment of the commit, and a holder that committed has
// released in the same instant.
type ReleaseCommitter interface {
	// CommitRelease applies req.Ops and releases req.Record's key in one
	// atomic step, if the lock record's current version is
	// req.ExpectVersion: it writes req.Record (Released set, fencing token
	// kept, attributes merged, as Update does) or, with req.Delete, deletes
	// the record. When the version does not match nothing is applied and
	// it returns a *ConflictError carrying the current record. When an
	// application op fails, nothing is applied, the lock is unchanged, and
	// the store's own error is returned (not a conflict). Ops is
	// store-specific, as for GuardedWriter.
	CommitRelease(ctx context.Context, req CommitReleaseRequest) error
}

// CommitReleaseRequest is the argument of ReleaseCommitter.CommitRelease.
type CommitReleaseRequest struct {
	Record        Record // the released record to write (Released is set); its Key names the lock
	ExpectVersion string // the version the lock record must carry
	Delete        bool   // delete the record instead of writing Record
	Ops           any    // the application's writes, in the store's own type
}

// ReleaseDeleter is an optional capability of a store whose records must
// be deleted on release, because other clients that share it know no
// released marker and would read a marked record as held (dynamostore in
// the python_dynamodb_lock format). The engine then releases every lock by
// deleting its record, and says so in its docs: the fencing counter is
// then the store's business (see the store's docs).
type ReleaseDeleter interface {
	ReleaseByDelete() bool
}
