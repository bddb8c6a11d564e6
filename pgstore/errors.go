package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/leaselock/leaselock/backend"
)

// writeErr classifies the failure of a write that pgx may have sent.
//
//   - The server answered with an error: the statement (or transaction)
//     was rolled back, so nothing was applied. Data errors (class 22) and
//     exceeded limits (class 54) are the request's fault and retrying
//     cannot help: ErrInvalid. Anything else is ErrUnavailable.
//   - pgx says the failure happened before anything was sent
//     (pgconn.SafeToRetry): ErrUnavailable.
//   - Otherwise the request may have reached the server and its answer was
//     lost (a cut connection, a deadline mid-request): ErrAmbiguous, and the
//     engine reads the record back.
func writeErr(ctx context.Context, op string, key backend.Key, err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		if len(pgErr.Code) >= 2 && (pgErr.Code[:2] == "22" || pgErr.Code[:2] == "54") {
			return fmt.Errorf("pgstore: %s %q: %w: %w", op, key, backend.ErrInvalid, err)
		}
		return unavailable(ctx, op, key, err)
	case pgconn.SafeToRetry(err):
		return unavailable(ctx, op, key, err)
	}
	return &backend.AmbiguousError{Err: fmt.Errorf("pgstore: %s %q: %w", op, key, withCtx(ctx, err))}
}

// readErr classifies a failed read: it changed nothing, so it is
// unavailable whatever happened.
func readErr(ctx context.Context, op string, key backend.Key, err error) error {
	return unavailable(ctx, op, key, err)
}

func unavailable(ctx context.Context, op string, key backend.Key, err error) error {
	return fmt.Errorf("pgstore: %s %q: %w: %w", op, key, backend.ErrUnavailable, withCtx(ctx, err))
}

// withCtx makes sure an error caused by the context's end says so, since
// callers tell a cancelled call from a failed store by errors.Is(err,
// ctx.Err()) and pgx does not always wrap it.
func withCtx(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}
