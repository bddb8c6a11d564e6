package dynamostore

import (
	"fmt"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// Attribute names of the Java AmazonDynamoDBLockClient 1.4.0 item format,
// and leaselock's own.
const (
	DefaultPartitionKeyName = "key"
	AttrOwnerName           = "ownerName"
	AttrLeaseDuration       = "leaseDuration"
	AttrRecordVersionNumber = "recordVersionNumber"
	AttrData                = "data"
	AttrIsReleased          = "isReleased"
	AttrFencingToken        = "fencingToken"

	// DefaultTTLRetention is how long after its lease ends a record's TTL
	// epoch lies, when Options.TTLAttribute is set and TTLRetention is zero.
	DefaultTTLRetention = 7 * 24 * time.Hour
)

// releasedValue is what Java writes (and requires on re-acquire) in
// isReleased.
const releasedValue = "1"

// DynamoDB limits the store checks before sending.
const (
	MaxPartitionKeyBytes = 2048
	MaxSortKeyBytes      = 1024
	MaxItemBytes         = 400 * 1024
)

// ConflictReads says how the store learns the current record after a
// refused conditional write.
type ConflictReads int

const (
	// ConflictReadsAuto trusts the item the server returns with a refused
	// write (ReturnValuesOnConditionCheckFailure) once the server has shown
	// that it returns one; until then, and for good on a server that shows
	// it ignores the parameter, an empty answer is checked with one
	// consistent GetItem. On DynamoDB that read can only follow a refusal
	// on an absent key made before the store's first refusal that carried
	// an item.
	ConflictReadsAuto ConflictReads = iota
	// ConflictReadsNever trusts the server: an empty answer means the key
	// is absent. Right for DynamoDB and moto.
	ConflictReadsNever
	// ConflictReadsAlways reads the record with a consistent GetItem after
	// every refused write whose answer carries no item. Right for dynalite.
	ConflictReadsAlways
)

// Options configure a Store. The zero value (or nil) is the Java client's
// default layout: partition key "key", no sort key, no TTL.
type Options struct {
	// Format is the item layout; default FormatJava. FormatPython changes
	// the defaults below to the Python client's: partition key
	// "lock_key", sort key "sort_key", TTL attribute "expiry_time" with a
	// retention of one hour.
	Format Format

	// Fencing says where the fencing counter lives; default the format's
	// (see FencingMode).
	Fencing FencingMode

	// PartitionKeyName is the table's partition (hash) key; type S.
	// Default "key" (FormatPython: "lock_key").
	PartitionKeyName string

	// SortKeyName is the table's sort (range) key, type S, if it has one.
	// Every Key must then have a non-empty Sort; without it, every Key must
	// have an empty Sort. FormatPython needs one (default "sort_key") and
	// stores an empty Sort as "-", as the Python client does; a Key whose
	// Sort is "-" is refused there.
	SortKeyName string

	// TTLAttribute, when set, makes every write store an epoch in seconds
	// (N) under this name: the end of the lease plus TTLRetention. Enable
	// DynamoDB TTL on that attribute (CreateTable does) and abandoned lock
	// records are deleted. Deleting a record restarts its fencing counter
	// (unless Fencing is FencingCounterItem); pick a retention far longer
	// than any write guarded by a token can be delayed. FormatPython needs
	// it (default "expiry_time"): the Python client fails on an item
	// without it.
	TTLAttribute string

	// TTLRetention is how long after the lease ends the TTL epoch lies.
	// Zero means DefaultTTLRetention (FormatPython:
	// DefaultPythonTTLRetention). Ignored without TTLAttribute.
	TTLRetention time.Duration

	// ConflictReads: see the type. Default ConflictReadsAuto.
	ConflictReads ConflictReads

	// Now is the wall clock used for TTL epochs only (lease timing is the
	// engine's and uses its monotonic clock). Default time.Now.
	Now func() time.Time
}

// OptionsError reports an invalid Options field. errors.Is(err,
// backend.ErrInvalid) is true.
type OptionsError struct {
	Field  string
	Reason string
}

func (e *OptionsError) Error() string {
	return fmt.Sprintf("dynamostore: invalid option %s: %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, backend.ErrInvalid) true.
func (e *OptionsError) Unwrap() error { return backend.ErrInvalid }

// withDefaults validates o and returns a copy with defaults filled in.
func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	f, ok := formatOf(c.Format)
	if !ok {
		return c, &OptionsError{"Format", fmt.Sprintf("unknown format %d", int(c.Format))}
	}
	if c.PartitionKeyName == "" {
		c.PartitionKeyName = f.partitionKey
	}
	if c.SortKeyName == "" && f.sortRequired {
		c.SortKeyName = f.sortKey
	}
	if c.TTLAttribute == "" && f.ttlRequired {
		c.TTLAttribute = f.ttl
	}
	if c.TTLAttribute != "" && c.TTLRetention == 0 {
		c.TTLRetention = f.ttlRetention
	}
	if c.Fencing == FencingDefault {
		c.Fencing = f.fencing
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	fm := f
	reserved := map[string]string{}
	for _, f := range []struct{ field, name string }{
		{"PartitionKeyName", c.PartitionKeyName},
		{"SortKeyName", c.SortKeyName},
		{"TTLAttribute", c.TTLAttribute},
	} {
		if f.name == "" {
			continue
		}
		if len(f.name) > 255 {
			return c, &OptionsError{f.field, "longer than 255 bytes"}
		}
		if fm.isLockAttribute(f.name) {
			return c, &OptionsError{f.field, fmt.Sprintf("%q is a lock attribute", f.name)}
		}
		if other, dup := reserved[f.name]; dup {
			return c, &OptionsError{f.field, fmt.Sprintf("%q is also %s", f.name, other)}
		}
		reserved[f.name] = f.field
	}
	switch {
	case c.TTLRetention < 0:
		return c, &OptionsError{"TTLRetention", "negative"}
	case c.ConflictReads < ConflictReadsAuto || c.ConflictReads > ConflictReadsAlways:
		return c, &OptionsError{"ConflictReads", fmt.Sprintf("unknown value %d", c.ConflictReads)}
	case c.Fencing < FencingDefault || c.Fencing > FencingCounterItem:
		return c, &OptionsError{"Fencing", fmt.Sprintf("unknown value %d", c.Fencing)}
	}
	return c, nil
}
