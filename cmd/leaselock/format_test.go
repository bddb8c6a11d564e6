package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// TestStoreURLFormat: format= picks the item layout; python brings the
// Python client's key, sort key and TTL names as defaults, and an unknown
// format is refused rather than guessed.
func TestStoreURLFormat(t *testing.T) {
	t.Parallel()
	spec, err := parseDynamoURL("dynamodb://locks?format=python&region=eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if spec.opts.Format != dynamostore.FormatPython {
		t.Fatalf("format %v", spec.opts.Format)
	}
	if got := canonicalURL(spec); got != "dynamodb://locks?region=eu-west-1&format=python" {
		t.Errorf("canonical URL %s", got)
	}
	if _, err := parseDynamoURL("dynamodb://locks?format=ruby"); err == nil || !strings.Contains(err.Error(), "java (the default) or python") {
		t.Errorf("unknown format: %v", err)
	}
}

// TestReleaseForcePythonFormat: in the Python format a forced release
// deletes the record, the only release the Python client reads as free.
func TestReleaseForcePythonFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	te := newTable(t, testservers.Dynalite, "format=python")
	st := te.store(t, &dynamostore.Options{Format: dynamostore.FormatPython})
	if err := st.AssertTable(ctx); err != nil {
		t.Fatalf("table create made a table of another schema: %v", err)
	}
	c, err := lock.New(st, lock.WithOwner("alice"), lock.WithLeaseDuration(2*time.Second),
		lock.WithHeartbeatPeriod(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(ctx) })
	if _, err := c.Acquire(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	r := forceRelease(t, te.url, "orders")
	requireContains(t, r.stdout, "released orders by deleting it (was held by alice with token 1)")
	if _, err := st.Get(ctx, backend.Key{Partition: "orders"}); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("record after a forced release in the Python format: %v", err)
	}
}
