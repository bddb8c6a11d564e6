package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SchemaVersion is written as the table's comment by CreateTable, so a
// later release can tell which layout a table has (docs/postgres.md,
// migrations).
const SchemaVersion = "leaselock/pgstore schema 1"

// ErrSchema is returned by CheckTable when the table is missing or its
// layout is not the one this package writes.
var ErrSchema = errors.New("pgstore: table schema mismatch")

// columns is the layout CreateTable writes, as format_type spells it.
// The token is a bigint: it starts at 1 and grows by one per acquisition,
// so it stays within 1 .. 2^63-1 and converts to the engine's uint64
// unchanged; at 2^63-1 the next acquisition fails with "bigint out of
// range" (ErrInvalid) instead of wrapping. The lease is kept in
// nanoseconds, exactly as given.
var columns = []struct{ name, typ string }{
	{"pkey", "text"},
	{"skey", "text"},
	{"owner", "text"},
	{"version", "text"},
	{"token", "bigint"},
	{"lease_ns", "bigint"},
	{"data", "bytea"},
	{"released", "boolean"},
	{"attrs", "jsonb"},
}

// CreateTable creates the lock table if it does not exist, then checks it
// (an existing table of another layout is reported, not altered). The
// primary key (pkey, skey) is the only index every statement needs: each
// write locks one row by it and List scans it in order.
func (s *Store) CreateTable(ctx context.Context) error {
	ddl := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
		pkey     text    NOT NULL,
		skey     text    NOT NULL DEFAULT '',
		owner    text    NOT NULL,
		version  text    NOT NULL,
		token    bigint  NOT NULL CHECK (token > 0),
		lease_ns bigint  NOT NULL CHECK (lease_ns >= 0),
		data     bytea,
		released boolean NOT NULL DEFAULT false,
		attrs    jsonb   NOT NULL DEFAULT '{}',
		PRIMARY KEY (pkey, skey))`, s.table)
	if _, err := s.pool.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("pgstore: create table %s: %w", s.table, err)
	}
	comment := fmt.Sprintf(`COMMENT ON TABLE %s IS '%s'`, s.table, SchemaVersion)
	if _, err := s.pool.Exec(ctx, comment); err != nil {
		return fmt.Errorf("pgstore: comment on table %s: %w", s.table, err)
	}
	return s.CheckTable(ctx)
}

// CheckTable verifies that the table exists with the columns, types and
// primary key this package uses. Extra columns are allowed (they must have
// defaults for inserts to work; they are left alone).
func (s *Store) CheckTable(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `
		SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
		  FROM pg_attribute a
		 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, s.table)
	if err != nil {
		return fmt.Errorf("pgstore: check table %s: %w", s.table, err)
	}
	type col struct {
		typ     string
		notNull bool
	}
	have := map[string]col{}
	for rows.Next() {
		var name string
		var c col
		if err := rows.Scan(&name, &c.typ, &c.notNull); err != nil {
			rows.Close()
			return fmt.Errorf("pgstore: check table %s: %w", s.table, err)
		}
		have[name] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pgstore: check table %s: %w", s.table, err)
	}
	if len(have) == 0 {
		return fmt.Errorf("%w: table %s does not exist", ErrSchema, s.table)
	}
	var problems []string
	for _, c := range columns {
		h, ok := have[c.name]
		switch {
		case !ok:
			problems = append(problems, "missing column "+c.name)
		case h.typ != c.typ:
			problems = append(problems, fmt.Sprintf("column %s is %s, want %s", c.name, h.typ, c.typ))
		case c.name != "data" && !h.notNull:
			problems = append(problems, fmt.Sprintf("column %s must be NOT NULL", c.name))
		}
	}
	var pk []string
	err = s.pool.QueryRow(ctx, `
		SELECT coalesce(array_agg(a.attname::text ORDER BY k.ord), '{}')
		  FROM pg_index i
		  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
		  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		 WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, s.table).Scan(&pk)
	if err != nil {
		return fmt.Errorf("pgstore: check table %s: %w", s.table, err)
	}
	if !slices.Equal(pk, []string{"pkey", "skey"}) {
		problems = append(problems, fmt.Sprintf("primary key is (%s), want (pkey, skey)", strings.Join(pk, ", ")))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: table %s: %s", ErrSchema, s.table, strings.Join(problems, "; "))
	}
	return nil
}
