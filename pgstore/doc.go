// Package pgstore is a backend.Store on PostgreSQL, through pgx.
//
// Every lock is one row of one table, keyed by (pkey, skey). Acquire,
// Update and Delete are each a single autocommitted statement: a CTE takes
// the row lock (SELECT ... FOR UPDATE), the compare-and-swap is applied to
// the locked row, and the statement returns the locked row with the
// outcome. So a write is one round trip, the fencing token is computed
// under the row lock that decides the write, and ConflictError.Current and
// Acquired.Replaced come from the same atomic step as the check.
//
// Guarded writes and commit-and-release run the application's statements
// (a func(ctx context.Context, tx pgx.Tx) error) in one transaction with a
// locked read of the lock row, so no takeover can commit in between.
//
// docs/postgres.md has the schema, the isolation argument and the figures.
package pgstore
