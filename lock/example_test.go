package lock_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/memstore"
)

// The basic cycle: acquire, work under the fencing token, release.
func Example() {
	ctx := context.Background()
	client, err := lock.New(memstore.New(), lock.WithOwner("worker-1"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(ctx)

	l, err := client.Acquire(ctx, "nightly-report")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("holding", l.Key(), "with token", l.Token())
	if err := l.Release(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("released:", errors.Is(l.Err(), lock.ErrReleased))
	// Output:
	// holding nightly-report with token 1
	// released: true
}

// Do is the common case: run a function while holding the lock.
func ExampleClient_Do() {
	ctx := context.Background()
	client, _ := lock.New(memstore.New(), lock.WithOwner("worker-1"))
	defer client.Close(ctx)

	for range 2 {
		err := client.Do(ctx, "migrate-schema", func(ctx context.Context, l *lock.Lock) error {
			// ctx is cancelled if the lock is lost; pass l.Token() downstream.
			fmt.Println("migrating under token", l.Token())
			return nil
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// migrating under token 1
	// migrating under token 2
}

// TryAcquire fails at once, naming the holder.
func ExampleClient_TryAcquire() {
	ctx := context.Background()
	store := memstore.New()
	alice, _ := lock.New(store, lock.WithOwner("alice"))
	defer alice.Close(ctx)
	bob, _ := lock.New(store, lock.WithOwner("bob"))
	defer bob.Close(ctx)

	if _, err := alice.Acquire(ctx, "printer"); err != nil {
		log.Fatal(err)
	}
	_, err := bob.TryAcquire(ctx, "printer")
	var held *lock.LockedError
	if errors.As(err, &held) {
		fmt.Println("printer is held by", held.Owner)
	}
	// Output:
	// printer is held by alice
}

// WriteGuarded commits the application's write only while the lock is held.
// With memstore the ops are a func() error run atomically with the check;
// with dynamostore they are TransactWriteItems.
func ExampleLock_WriteGuarded() {
	ctx := context.Background()
	client, _ := lock.New(memstore.New(), lock.WithOwner("worker-1"))
	defer client.Close(ctx)

	l, _ := client.Acquire(ctx, "ledger")
	balance := 0
	err := l.WriteGuarded(ctx, func() error { balance += 100; return nil })
	fmt.Println(balance, err)

	_ = l.Release(ctx)
	err = l.WriteGuarded(ctx, func() error { balance += 100; return nil })
	fmt.Println(balance, errors.Is(err, lock.ErrReleased))
	// Output:
	// 100 <nil>
	// 100 true
}

// Get reports a live lock held by another owner as held, never expired
// from one look.
func ExampleClient_Get() {
	ctx := context.Background()
	store := memstore.New()
	alice, _ := lock.New(store, lock.WithOwner("alice"))
	defer alice.Close(ctx)
	bob, _ := lock.New(store, lock.WithOwner("bob"))
	defer bob.Close(ctx)

	_, _ = alice.Acquire(ctx, "cron", lock.WithData([]byte("started 02:00")))
	info, _ := bob.Get(ctx, "cron", "")
	fmt.Println(info.State, info.Owner, info.Token, string(info.Data))
	// Output:
	// locked alice 1 started 02:00
}
