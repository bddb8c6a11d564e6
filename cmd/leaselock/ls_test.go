package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	return testHolder(t, te.store(t, opts), owner, lease, beat)
}

// testHolder returns a lock client named owner on st, closed when the
// test ends (within a minute).
func testHolder(t *testing.T, st backend.Store, owner string, lease, beat time.Duration) *lock.Client {
	t.Helper()
	c, err := lock.New(st, lock.WithOwner(owner), lock.WithLeaseDuration(lease),
		lock.WithHeartbeatPeriod(beat), lock.WithPollPeriod(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func TestLsAndGet(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	te := newTable(t, testservers.Dynalite, "")
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
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "KEY OWNER TOKEN STATE LEASE RENEWED VERSION" {
		t.Errorf("header %q", lines[0])
	}
	if f := strings.Fields(lines[1]); strings.Join(f[:5], " ") != "invoices bob 2 released 1m0s" || f[6] != "ago" {
		t.Errorf("row %q", lines[1])
	}
	// The engine's stamp gives the age: a fresh write, seconds old at most.
	f := strings.Fields(lines[2])
	if len(f) != 8 || strings.Join(f[:5], " ") != "orders alice 1 held 1m0s" || f[6] != "ago" || f[7] != ordersInfo.Version {
		t.Errorf("row %q", lines[2])
	} else if d, err := time.ParseDuration(f[5]); err != nil || d > 30*time.Second {
		t.Errorf("renewed %q ago", f[5])
	}

	r = mustCLI(t, "ls", "--store", te.url, "--partition", "orders", "--json")
	var views []lockView
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(views) != 1 || views[0].Key != "orders" || views[0].Owner != "alice" || views[0].State != "held" ||
		views[0].Token != 1 || views[0].LeaseMilli != 60000 || string(views[0].Data) != "batch 7" || views[0].WrittenAt == nil ||
		views[0].AgeMilli == nil || views[0].Attributes != nil {
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
	ctx := testCtx(t)
	te := newTable(t, testservers.Dynalite, "sk=part")
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

// TestWatch: --watch tells a dead holder (its record unchanged for a whole
// lease) from a live one (heartbeating), as a waiter would; one read says
// held for both.
func TestWatch(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	te := newTable(t, testservers.Dynalite, "")
	live := te.holder(t, "live", nil, time.Second, 100*time.Millisecond)
	if _, err := live.Acquire(ctx, "alive"); err != nil {
		t.Fatal(err)
	}
	// A holder that died right after acquiring: stamped like a leaselock
	// write, never renewed.
	version := "11111111-2222-4333-8444-555555555555"
	_, err := te.store(t, nil).Acquire(ctx, backend.AcquireRequest{Record: backend.Record{
		Key: backend.Key{Partition: "dead"}, Owner: "gone", Version: version, LeaseDuration: time.Second,
		Attributes: map[string]string{writtenAtAttribute: fmt.Sprintf("%d %s", time.Now().UnixMilli(), version)},
	}})
	if err != nil {
		t.Fatal(err)
	}

	r := mustCLI(t, "ls", "--store", te.url)
	requireRow(t, r.stdout, "dead gone 1 held")
	requireRow(t, r.stdout, "alive live 1 held")
	start := time.Now()
	r = mustCLI(t, "ls", "--store", te.url, "--watch")
	if d := time.Since(start); d < time.Second {
		t.Errorf("watched for %v, less than the lease", d)
	}
	requireRow(t, r.stdout, "dead gone 1 expired")
	requireRow(t, r.stdout, "alive live 1 held")
	requireContains(t, r.stderr, "watching 2 held lock(s) for 1s", "expired: VERSION unchanged for a whole LEASE")

	r = mustCLI(t, "get", "--store", te.url, "dead")
	requireContains(t, r.stdout, "state      held", "older than its lease: the holder may be gone")
	r = mustCLI(t, "get", "--store", te.url, "--watch", "--json", "dead")
	var v lockView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if v.State != stateExpired || v.WatchedMilli < 1000 {
		t.Errorf("get --watch --json dead: %+v", v)
	}
	r = mustCLI(t, "get", "--store", te.url, "--watch", "dead")
	requireContains(t, r.stdout, "state      expired (looks expired to me: version unchanged for")
	r = mustCLI(t, "get", "--store", te.url, "--watch", "alive")
	requireContains(t, r.stdout, "state      held")
}

// requireRow checks that a line of out starts with the given fields.
func requireRow(t *testing.T, out, fields string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.Join(strings.Fields(line), " ")+" ", fields+" ") {
			return
		}
	}
	t.Errorf("no row %q in:\n%s", fields, out)
}
