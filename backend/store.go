package backend

import "context"

// Store keeps lock records and changes them only by compare-and-swap.
//
// Every method must be safe for concurrent use, honour ctx, and return one of
// the error kinds in errors.go (wrapped as the store likes). Returned records
// belong to the caller.
//
// Attributes are merged by every write: a write sets the attributes it names
// and leaves the others as they were, because a store that updates in place
// (DynamoDB's UpdateItem) cannot drop attributes it does not know of without
// an extra read.
type Store interface {
	// Get returns the current record for key, or an error that
	// errors.Is ErrNotFound when there is none.
	Get(ctx context.Context, key Key) (Record, error)

	// Acquire writes a new lease for req.Record.Key in one atomic step, when
	// the key is free (absent, or present and Released) or, if
	// req.ExpectVersion is set, when the current record carries exactly that
	// version (a takeover of a lease observed to have expired).
	//
	// The stored fencing token becomes the replaced record's token plus one
	// (1 for an absent key); req.Record.Token is ignored. With req.KeepData
	// and an empty req.Record.Data (nil or zero length alike) the replaced
	// record's data is kept. Attributes merge into the replaced record's,
	// as on every write. The stored record never has Released set.
	//
	// On success it returns the record as stored and the record it replaced
	// (nil when the key was absent). When the condition fails it returns a
	// *ConflictError carrying the current record.
	Acquire(ctx context.Context, req AcquireRequest) (Acquired, error)

	// Update replaces the record whose current version is expectVersion
	// with rec, keeping the stored fencing token (rec.Token is ignored).
	// Heartbeats, data changes and release-by-marking are all updates. On a
	// version mismatch, or when the record is absent, it returns a
	// *ConflictError carrying the current record.
	Update(ctx context.Context, rec Record, expectVersion string) (Record, error)

	// Delete removes the record for key if its current version is
	// expectVersion; otherwise it returns a *ConflictError.
	Delete(ctx context.Context, key Key, expectVersion string) error
}

// AcquireRequest is the argument of Store.Acquire.
type AcquireRequest struct {
	Record        Record // the lease to write: key, owner, version, duration, data, attributes
	ExpectVersion string // empty: the key must be free; otherwise: the version to replace
	KeepData      bool   // keep the replaced record's data when Record.Data is empty
	MustExist     bool   // fail with a conflict (Current nil) if the key is absent
}

// Acquired is the result of a successful Store.Acquire.
type Acquired struct {
	Record   Record  // as stored, with its new fencing token
	Replaced *Record // the record this write replaced; nil if the key was absent
}
