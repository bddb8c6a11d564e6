package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

// holder returns a lock client named owner on the test table.
func (te tableEnv) holder(t *testing.T, owner string, opts *dynamostore.Options, lease, beat time.Duration) *lock.Client {
	t.Helper()
	c, err := lock.New(te.store(t, opts), lock.WithOwner(owner), lock.WithLeaseDuration(lease),
		lock.WithHeartbeatPeriod(beat), lock.WithPollPeriod(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := te.ctx(t) // made first: its cleanup runs after Close's
	t.Cleanup(func() { _ = c.Close(ctx) })
	return c
}

func TestLsAndGet(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "")
	ctx := te.ctx(t)
	alice := te.holder(t, "alice", nil, time.Minute, 15*time.Second)
	bob := te.holder(t, "bob", nil, time.Minute, 15*time.Second)

	r := mustCLI(t, "ls", "--store", te.url)
	requireContains(t, r.stderr, "no locks")

	if _, err := alice.Acquire(ctx, "orders", lock.WithData([]byte("batch 7"))); err != nil {
		t.Fatal(err)
	}
	l, err := bob.Acquire(ctx, "invoices")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l, err = bob.Acquire(ctx, "invoices") // token 2
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	ordersInfo, err := alice.Get(ctx, "orders", "")
	if err != nil {
		t.Fatal(err)
	}

	r = mustCLI(t, "ls", "--store", te.url)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header and 2 rows:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "KEY OWNER TOKEN STATE LEASE VERSION" {
		t.Errorf("header %q", lines[0])
	}
	if f := strings.Fields(lines[1]); strings.Join(f[:5], " ") != "invoices bob 2 released 1m0s" {
		t.Errorf("row %q", lines[1])
	}
	if f := strings.Fields(lines[2]); strings.Join(f, " ") != "orders alice 1 held 1m0s "+ordersInfo.Version {
		t.Errorf("row %q", lines[2])
	}

	r = mustCLI(t, "ls", "--store", te.url, "--partition", "orders", "--json")
	var views []lockView
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(views) != 1 || views[0].Key != "orders" || views[0].Owner != "alice" || views[0].State != "held" ||
		views[0].Token != 1 || views[0].LeaseMilli != 60000 || string(views[0].Data) != "batch 7" || views[0].WrittenAt == nil {
		t.Errorf("ls --partition orders --json: %+v", views)
	}

	r = mustCLI(t, "get", "--store", te.url, "orders")
	requireContains(t, r.stdout, "key        orders", "state      held", "owner      alice", "token      1",
		"lease      1m0s", "version    "+ordersInfo.Version, `data       "batch 7" (7 bytes)`, "by the writer's clock")
	r = mustCLI(t, "get", "orders", "--store", te.url, "--json") // flags after the key too
	var v lockView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version != ordersInfo.Version {
		t.Errorf("get --json: %v %+v", err, v)
	}
	r = mustCLI(t, "get", "--store", te.url, "nothing-here")
	requireContains(t, r.stdout, "state      free (no record)")
}

func TestLsAndGetSortKey(t *testing.T) {
	t.Parallel()
	te := newTable(t, testservers.Dynalite, "sk=part")
	ctx := te.ctx(t)
	opts := &dynamostore.Options{SortKeyName: "part"}
	alice := te.holder(t, "alice", opts, time.Minute, 15*time.Second)
	for _, k := range [][2]string{{"db", "shard-1"}, {"db", "shard-2"}, {"cache", "all"}} {
		if _, err := alice.Acquire(ctx, k[0], lock.WithSortKey(k[1])); err != nil {
			t.Fatal(err)
		}
	}
	r := mustCLI(t, "ls", "--store", te.url)
	requireContains(t, r.stdout, "KEY", "SORT", "cache  all", "db     shard-1", "db     shard-2")
	r = mustCLI(t, "ls", "--store", te.url, "--partition", "db")
	if n := strings.Count(r.stdout, "\n"); n != 3 || strings.Contains(r.stdout, "cache") {
		t.Errorf("ls --partition db:\n%s", r.stdout)
	}
	r = mustCLI(t, "get", "--store", te.url, "--sort", "shard-2", "db")
	requireContains(t, r.stdout, "sort key   shard-2", "owner      alice")
}

func TestWrittenAt(t *testing.T) {
	t.Parallel()
	rec := backend.Record{Version: "v2", Attributes: map[string]string{writtenAtAttribute: "1700000000123 v2"}}
	if got, ok := writtenAt(rec); !ok || got.UnixMilli() != 1700000000123 {
		t.Errorf("own stamp: %v %v", got, ok)
	}
	rec.Attributes[writtenAtAttribute] = "1700000000123 v1" // left behind by a foreign write
	if _, ok := writtenAt(rec); ok {
		t.Error("stale stamp shown")
	}
	if v := viewOf(rec); v.WrittenAt != nil || v.Attributes != nil {
		t.Errorf("view of a stale stamp: %+v", v)
	}
	rec.Attributes[writtenAtAttribute] = "1700000000123" // no version: not a stamp the engine writes
	if _, ok := writtenAt(rec); ok {
		t.Error("unversioned stamp shown")
	}
}
