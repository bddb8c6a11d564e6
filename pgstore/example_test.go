package pgstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leaselock/leaselock/lock"
	"github.com/leaselock/leaselock/pgstore"
)

// ExampleNew opens a store, creates its table if needed, and runs work
// under a lock. (Compiled, not run: it needs a database.)
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/app")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.Options{Table: "leaselock"})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	client, err := lock.New(store, lock.WithOwner("worker-1"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(ctx)
	err = client.Do(ctx, "nightly-report", func(ctx context.Context, l *lock.Lock) error {
		fmt.Println("held with fencing token", l.Token())
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}

// ExampleWriteGuarded commits an application write only while the lock is
// still held: the lock row is read FOR SHARE in the same transaction, so no
// takeover can commit before this write does. CommitAndRelease does the
// same and releases the lock in that COMMIT.
func ExampleWriteGuarded() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/app")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	client, err := lock.New(store)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(ctx)
	l, err := client.Acquire(ctx, "account-42")
	if err != nil {
		log.Fatal(err)
	}
	err = pgstore.WriteGuarded(ctx, l, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance - 10 WHERE id = 42`)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	err = pgstore.CommitAndRelease(ctx, l, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE accounts SET audited = true WHERE id = 42`)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}
