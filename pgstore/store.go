package pgstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leaselock/leaselock/backend"
)

// DefaultTable is the table name used when Options.Table is empty.
const DefaultTable = "leaselock"

// MaxKeyBytes is the longest partition or sort key accepted. Both parts
// live in the primary key's btree, whose entries PostgreSQL caps near 2.7
// kB; two 1 KiB parts fit with room to spare, so a long key is refused up
// front instead of failing at the server.
const MaxKeyBytes = 1024

// Options configures a Store.
type Options struct {
	// Table is the lock table, optionally schema-qualified
	// ("locks.leaselock"). Each part must be a plain SQL identifier:
	// letters, digits and underscores, not starting with a digit.
	Table string
}

// Store is a backend.Store on one PostgreSQL table. It is safe for
// concurrent use; it does not own the pool and never closes it.
type Store struct {
	pool  *pgxpool.Pool
	table string // quoted, ready to splice into SQL
	sql   statements
}

var (
	_ backend.Store            = (*Store)(nil)
	_ backend.Lister           = (*Store)(nil)
	_ backend.GuardedWriter    = (*Store)(nil)
	_ backend.ReleaseCommitter = (*Store)(nil)
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New returns a store on pool's database. It sends nothing: call
// CreateTable or CheckTable to prepare or verify the table.
func New(pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: pgstore: nil pool", backend.ErrInvalid)
	}
	name := opts.Table
	if name == "" {
		name = DefaultTable
	}
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return nil, fmt.Errorf("%w: pgstore: table %q: at most schema.table", backend.ErrInvalid, name)
	}
	for _, p := range parts {
		if !identRE.MatchString(p) {
			return nil, fmt.Errorf("%w: pgstore: table %q: %q is not a plain identifier", backend.ErrInvalid, name, p)
		}
	}
	table := pgx.Identifier(parts).Sanitize()
	return &Store{pool: pool, table: table, sql: buildStatements(table)}, nil
}

// Get implements backend.Store.
func (s *Store) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	if err := check(ctx, key); err != nil {
		return backend.Record{}, err
	}
	var r row
	err := s.pool.QueryRow(ctx, s.sql.get, key.Partition, key.Sort).Scan(r.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return backend.Record{}, fmt.Errorf("pgstore: %q: %w", key, backend.ErrNotFound)
	}
	if err != nil {
		return backend.Record{}, readErr(ctx, "get", key, err)
	}
	return r.record(key)
}

// check refuses what PostgreSQL could never store, before any I/O: a text
// value cannot hold a NUL byte, and long keys overflow the index.
func check(ctx context.Context, key backend.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := backend.ValidateKey(key, MaxKeyBytes); err != nil {
		return err
	}
	if strings.ContainsRune(key.Partition, 0) || strings.ContainsRune(key.Sort, 0) {
		return fmt.Errorf("%w: key %q holds a NUL byte, which PostgreSQL text cannot", backend.ErrInvalidKey, key)
	}
	return nil
}

// checkRecord is check plus the record's own text fields.
func checkRecord(ctx context.Context, rec backend.Record) error {
	if err := check(ctx, rec.Key); err != nil {
		return err
	}
	if rec.LeaseDuration < 0 {
		return fmt.Errorf("%w: pgstore: negative lease duration", backend.ErrInvalid)
	}
	texts := []string{rec.Owner, rec.Version}
	for k, v := range rec.Attributes {
		texts = append(texts, k, v)
	}
	for _, t := range texts {
		if strings.ContainsRune(t, 0) || !utf8.ValidString(t) {
			return fmt.Errorf("%w: pgstore: owner, version or attribute is not UTF-8 without NUL bytes, as PostgreSQL text must be", backend.ErrInvalid)
		}
	}
	return nil
}
