package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/leaselock/leaselock/backend"
)

// TxFunc is the ops type of WriteGuarded and CommitRelease: the
// application's statements, run on tx. It must not commit or roll back tx;
// the store does, together with the lock check. Pass it as a plain func
// literal or as a TxFunc.
type TxFunc = func(ctx context.Context, tx pgx.Tx) error

// WriteGuarded implements backend.GuardedWriter. ops must be a TxFunc. The
// lock row is read FOR SHARE first, so until the transaction ends no
// takeover, heartbeat or release of that row can commit; the application's
// statements then run and everything commits together.
func (s *Store) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	fn, ok := ops.(TxFunc)
	if !ok {
		return fmt.Errorf("%w: pgstore guarded ops must be func(context.Context, pgx.Tx) error, got %T", backend.ErrInvalid, ops)
	}
	if err := check(ctx, g.Key); err != nil {
		return err
	}
	if g.Token > math.MaxInt64 {
		// No stored token is this large (tokens are bigint), so the guard
		// cannot hold.
		return fmt.Errorf("pgstore: %q: %w", g.Key, backend.ErrGuardFailed)
	}
	return s.inTx(ctx, "guarded write", g.Key, func(tx pgx.Tx) error {
		var owner string
		var token int64
		var released bool
		err := tx.QueryRow(ctx, s.sql.guard, g.Key.Partition, g.Key.Sort).Scan(&owner, &token, &released)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("pgstore: %q: no lock record: %w", g.Key, backend.ErrGuardFailed)
		case err != nil:
			return unavailable(ctx, "guarded write", g.Key, err)
		case released || owner != g.Owner || uint64(token) != g.Token:
			return fmt.Errorf("pgstore: %q: %w", g.Key, backend.ErrGuardFailed)
		}
		return appErr(ctx, "guarded write", g.Key, tx, fn(ctx, tx))
	})
}

// CommitRelease implements backend.ReleaseCommitter. req.Ops must be a
// TxFunc. The lock row is locked FOR UPDATE and its version compared; then
// the application's statements run, then the release, and one COMMIT
// applies both.
func (s *Store) CommitRelease(ctx context.Context, req backend.CommitReleaseRequest) error {
	fn, ok := req.Ops.(TxFunc)
	if !ok {
		return fmt.Errorf("%w: pgstore ops must be func(context.Context, pgx.Tx) error, got %T", backend.ErrInvalid, req.Ops)
	}
	rec := req.Record
	key := rec.Key
	if err := checkRecord(ctx, rec); err != nil {
		return err
	}
	return s.inTx(ctx, "commit-release", key, func(tx pgx.Tx) error {
		var cur row
		err := tx.QueryRow(ctx, s.sql.lockRow, key.Partition, key.Sort).Scan(cur.dest()...)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return conflict(key, nil)
		case err != nil:
			return unavailable(ctx, "commit-release", key, err)
		case cur.version != req.ExpectVersion:
			return conflict(key, &cur)
		}
		if err := appErr(ctx, "commit-release", key, tx, fn(ctx, tx)); err != nil {
			return err
		}
		// The row is locked by this transaction and its version was just
		// compared, so these match exactly one row; the version stays in
		// the WHERE clause as a second guard.
		var tag interface{ RowsAffected() int64 }
		if req.Delete {
			tag, err = tx.Exec(ctx, s.sql.releaseDelete, key.Partition, key.Sort, req.ExpectVersion)
		} else {
			tag, err = tx.Exec(ctx, s.sql.release, key.Partition, key.Sort, rec.Owner, rec.Version,
				int64(rec.LeaseDuration), emptyToNil(rec.Data), rec.Released, attrsArg(rec.Attributes),
				req.ExpectVersion)
		}
		if err != nil {
			return unavailable(ctx, "commit-release", key, err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("pgstore: commit-release %q: %w: release matched %d rows under the row lock",
				key, backend.ErrUnavailable, tag.RowsAffected())
		}
		return nil
	})
}

// inTx runs body in a transaction and commits it. Whatever fails before
// COMMIT is sent leaves nothing applied: body's error is returned as it
// is (a guard refusal, a conflict, the application's own error) after a
// rollback. A COMMIT whose answer is lost is ambiguous; one the server
// refused (a deferred constraint, a serialization failure) rolled back.
func (s *Store) inTx(ctx context.Context, op string, key backend.Key, body func(pgx.Tx) error) error {
	conn, err := s.conn(ctx, op, key)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return unavailable(ctx, op, key, err)
	}
	if err := body(tx); err != nil {
		// A failed rollback leaves the transaction uncommitted; the
		// server aborts it when the connection, which pgx then closes,
		// goes away.
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		if errors.Is(err, pgx.ErrTxCommitRollback) {
			// The application swallowed an error of its own statements:
			// the server had aborted the transaction and rolled it back.
			return unavailable(ctx, op, key, err)
		}
		return writeErr(ctx, op, key, err)
	}
	return nil
}

// appErr passes the application's own error through, except when its
// connection died under it: the transaction then never committed, and
// saying ErrUnavailable lets the engine know nothing was applied and a
// retry may succeed, where the application's error alone says neither.
// That includes a server error that ended the session (FATAL: a
// terminated backend, a server shutting down), after which pgx closes the
// connection; an ERROR leaves it open and stays the application's.
func appErr(ctx context.Context, op string, key backend.Key, tx pgx.Tx, err error) error {
	if err == nil || errors.Is(err, backend.ErrUnavailable) {
		return err
	}
	if tx.Conn().IsClosed() {
		return unavailable(ctx, op, key, err)
	}
	return err
}
