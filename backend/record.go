package backend

import (
	"bytes"
	"maps"
	"time"
)

// Key names a lock: a partition key and an optional sort key.
type Key struct {
	Partition string
	Sort      string // empty when the table has no sort key
}

// String renders the key for logs and errors.
func (k Key) String() string {
	if k.Sort == "" {
		return k.Partition
	}
	return k.Partition + "/" + k.Sort
}

// Record is one lock as a store holds it.
//
// Version changes on every write (acquire, heartbeat, release); it is what
// compare-and-swap compares. Token is the fencing token: the store advances
// it by one on every acquisition and never otherwise, so it strictly
// increases per key for as long as the record exists.
type Record struct {
	Key           Key
	Owner         string
	Version       string
	Token         uint64
	LeaseDuration time.Duration
	Data          []byte            // nil when the record carries no data
	Released      bool              // the holder released it; the key is free
	Attributes    map[string]string // application attributes stored beside the lock
}

// Clone returns a deep copy, so callers may keep a record a store returned
// while the store goes on mutating its own.
func (r Record) Clone() Record {
	if r.Data != nil {
		r.Data = bytes.Clone(r.Data)
	}
	if r.Attributes != nil {
		r.Attributes = maps.Clone(r.Attributes)
	}
	return r
}

// Equal reports whether two records hold the same values. Nil and empty data
// or attributes compare equal: stores need not distinguish them.
func (r Record) Equal(o Record) bool {
	return r.Key == o.Key && r.Owner == o.Owner && r.Version == o.Version &&
		r.Token == o.Token && r.LeaseDuration == o.LeaseDuration &&
		r.Released == o.Released && bytes.Equal(r.Data, o.Data) &&
		maps.Equal(r.Attributes, o.Attributes)
}
