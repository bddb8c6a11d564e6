package otelock

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

// Attribute keys. error.type is the semantic conventions' own; the rest
// are this library's, under its namespace.
const (
	KeyKey        = attribute.Key("leaselock.key")       // spans only, unless WithoutKeys
	KeySortKey    = attribute.Key("leaselock.sort_key")  // spans only, when the key has one
	KeyOwner      = attribute.Key("leaselock.owner")     // spans: this client's owner name
	KeyToken      = attribute.Key("leaselock.token")     // spans: the fencing token
	KeyHolder     = attribute.Key("leaselock.holder")    // span events: the other owner
	KeyOperation  = attribute.Key("leaselock.operation") // acquire, try_acquire, release, commit_release
	KeyOutcome    = attribute.Key("leaselock.outcome")   // lock.Outcome values
	KeyStoreOp    = attribute.Key("leaselock.store.operation")
	KeyLossReason = attribute.Key("leaselock.loss.reason")  // stolen, expired
	KeyLossCause  = attribute.Key("leaselock.loss.cause")   // lock.CauseKind values
	KeyWait       = attribute.Key("leaselock.acquire.wait") // Acquire spans: seconds spent waiting
	KeyErrorType  = attribute.Key("error.type")
)

// attrCache keeps the measurement options of each attribute combination.
// Every value comes from a short fixed list (outcomes, operations, cause
// kinds, error kinds), so the cache stays small, and recording a
// measurement builds no attribute set and no option slice.
type attrCache struct {
	mu sync.RWMutex
	m  map[attrPair]*measureOpts
}

// measureOpts are one attribute set's options, as Add and Record take them.
type measureOpts struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// attrPair is up to two attributes; an empty key is left out.
type attrPair struct {
	k1 attribute.Key
	v1 string
	k2 attribute.Key
	v2 string
}

func (c *attrCache) opt(p attrPair) *measureOpts {
	c.mu.RLock()
	opt, ok := c.m[p]
	c.mu.RUnlock()
	if ok {
		return opt
	}
	var kvs []attribute.KeyValue
	if p.k1 != "" {
		kvs = append(kvs, p.k1.String(p.v1))
	}
	if p.k2 != "" {
		kvs = append(kvs, p.k2.String(p.v2))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kvs...))
	opt = &measureOpts{add: []metric.AddOption{set}, rec: []metric.RecordOption{set}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[attrPair]*measureOpts{}
	}
	c.m[p] = opt
	return opt
}

// errorType classifies an operation's error for the error.type attribute,
// by the kinds of packages backend and lock; "_OTHER" (the semantic
// conventions' fallback) for the rest.
func errorType(err error) string {
	switch {
	case errors.Is(err, backend.ErrConflict):
		return "conflict"
	case errors.Is(err, backend.ErrGuardFailed):
		return "guard_failed"
	case errors.Is(err, backend.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, backend.ErrAmbiguous), errors.Is(err, lock.ErrUnknownOutcome):
		return "ambiguous"
	case errors.Is(err, backend.ErrInvalid), errors.Is(err, lock.ErrInvalidRequest),
		errors.Is(err, lock.ErrInvalidKey), errors.Is(err, lock.ErrInvalidOption):
		return "invalid"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, lock.ErrClosed):
		return "closed"
	}
	return "_OTHER"
}

// lossReason names a loss reason as the attribute value.
func lossReason(r lock.Reason) string {
	switch r {
	case lock.Stolen:
		return "stolen"
	case lock.Expired:
		return "expired"
	}
	return r.String()
}
