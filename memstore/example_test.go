package memstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// A memstore is a whole lock service in one process: for tests, examples
// and programs that only need to coordinate their own goroutines.
func ExampleNew() {
	ctx := context.Background()
	client, err := lock.New(memstore.New(), lock.WithOwner("test"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(ctx)

	l, err := client.Acquire(ctx, "fixture")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token", l.Token())
	fmt.Println(l.Release(ctx))
	// Output:
	// token 1
	// <nil>
}

// CommitAndRelease applies the application's write and releases the lock
// in one step under the store's lock: both or neither.
func ExampleCommitAndRelease() {
	ctx := context.Background()
	store := memstore.New()
	client, _ := lock.New(store, lock.WithOwner("worker"))
	defer client.Close(ctx)

	balances := map[string]int{"alice": 10}
	l, _ := client.Acquire(ctx, "account/alice")
	err := memstore.CommitAndRelease(ctx, l, func() error {
		balances["alice"] += 5 // runs only while the lock is still held
		return nil
	})
	fmt.Println(err, balances["alice"], l.Err())
	// Output:
	// <nil> 15 lock: released
}
