package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leaselock/leaselock/backend"
)

// insertRaces bounds how often Acquire runs its statement again after its
// INSERT lost to a concurrent one. Each rerun follows a change another
// client committed, so the bound is only reached under pathological churn
// (insert, delete, insert...) and then nothing was applied.
const insertRaces = 8

// Acquire implements backend.Store in one statement (see buildStatements):
// the condition, the new token and the replaced record are all read under
// the row lock the write itself holds.
func (s *Store) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	rec := req.Record
	key := rec.Key
	if err := checkRecord(ctx, rec); err != nil {
		return backend.Acquired{}, err
	}
	conn, err := s.conn(ctx, "acquire", key)
	if err != nil {
		return backend.Acquired{}, err
	}
	defer conn.Release()
	for range insertRaces {
		var cur row
		var out outcome
		err := conn.QueryRow(ctx, s.sql.acquire, key.Partition, key.Sort, rec.Owner, rec.Version,
			int64(rec.LeaseDuration), emptyToNil(rec.Data), req.KeepData, attrsArg(rec.Attributes),
			req.ExpectVersion, req.MustExist).Scan(append(cur.dest(), out.dest()...)...)
		if err != nil {
			return backend.Acquired{}, writeErr(ctx, "acquire", key, err)
		}
		switch {
		case out.applied:
			stored := rec.Clone()
			stored.Token, stored.Released = uint64(out.token), false
			stored.Data, stored.Attributes = nil, nil
			if len(out.data) > 0 {
				stored.Data = out.data
			}
			if len(out.attrs) > 0 {
				stored.Attributes = out.attrs
			}
			got := backend.Acquired{Record: stored}
			if cur.found {
				replaced, err := cur.record(key)
				if err != nil {
					return backend.Acquired{}, err
				}
				got.Replaced = &replaced
			}
			return got, nil
		case cur.found:
			return backend.Acquired{}, conflict(key, &cur)
		case req.ExpectVersion != "" || req.MustExist:
			return backend.Acquired{}, conflict(key, nil)
		}
		// No row was seen and the INSERT met one: a concurrent acquire
		// committed first. Nothing was written; decide again on its row.
	}
	return backend.Acquired{}, fmt.Errorf("pgstore: acquire %q: %w: lost %d insert races in a row",
		key, backend.ErrUnavailable, insertRaces)
}

// Update implements backend.Store in one statement.
func (s *Store) Update(ctx context.Context, rec backend.Record, expectVersion string) (backend.Record, error) {
	key := rec.Key
	if err := checkRecord(ctx, rec); err != nil {
		return backend.Record{}, err
	}
	conn, err := s.conn(ctx, "update", key)
	if err != nil {
		return backend.Record{}, err
	}
	defer conn.Release()
	var cur row
	var out outcome
	err = conn.QueryRow(ctx, s.sql.update, key.Partition, key.Sort, rec.Owner, rec.Version,
		int64(rec.LeaseDuration), emptyToNil(rec.Data), rec.Released, attrsArg(rec.Attributes),
		expectVersion).Scan(append(cur.dest(), out.dest()...)...)
	if err != nil {
		return backend.Record{}, writeErr(ctx, "update", key, err)
	}
	if !out.applied {
		return backend.Record{}, conflict(key, &cur)
	}
	stored := rec.Clone()
	stored.Token = uint64(out.token)
	stored.Data, stored.Attributes = nil, nil
	if len(out.data) > 0 {
		stored.Data = out.data
	}
	if len(out.attrs) > 0 {
		stored.Attributes = out.attrs
	}
	return stored, nil
}

// Delete implements backend.Store in one statement.
func (s *Store) Delete(ctx context.Context, key backend.Key, expectVersion string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	conn, err := s.conn(ctx, "delete", key)
	if err != nil {
		return err
	}
	defer conn.Release()
	var cur row
	var out outcome
	err = conn.QueryRow(ctx, s.sql.del, key.Partition, key.Sort, expectVersion).
		Scan(append(cur.dest(), out.dest()...)...)
	if err != nil {
		return writeErr(ctx, "delete", key, err)
	}
	if !out.applied {
		return conflict(key, &cur)
	}
	return nil
}

// conn takes a pooled connection. Nothing of the write has been sent when
// this fails, so a failure here (a refused connection, a full pool at the
// deadline) is unavailable, never ambiguous.
func (s *Store) conn(ctx context.Context, op string, key backend.Key) (*pgxpool.Conn, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, unavailable(ctx, op, key, err)
	}
	return c, nil
}

// conflict builds the refusal from the row the refusing statement locked;
// cur nil or not found means the key held nothing.
func conflict(key backend.Key, cur *row) error {
	ce := &backend.ConflictError{Key: key}
	if cur != nil && cur.found {
		r, err := cur.record(key)
		if err != nil {
			return err
		}
		ce.Current = &r
	}
	return ce
}
