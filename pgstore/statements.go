package pgstore

import (
	"fmt"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// statements holds the SQL of one store, with its table name spliced in
// once: identifiers cannot be bind parameters.
type statements struct {
	get, acquire, update, del, list, guard, lockRow, release, releaseDelete string
}

// curCTE takes the row lock every write decides on. In READ COMMITTED a
// FOR UPDATE that meets a row changed by a concurrent transaction waits
// for it to end and then returns the newest version, so the row this CTE
// yields is the one the store holds while this statement holds its lock.
const curCTE = `cur AS (
	SELECT owner, version, token, lease_ns, data, released, attrs
	  FROM %[1]s WHERE pkey = $1 AND skey = $2 FOR UPDATE)`

// curCols is the locked row as the first eight result columns; found is
// false when the key held no row.
const curCols = `cur.version IS NOT NULL, coalesce(cur.owner, ''), coalesce(cur.version, ''),
	coalesce(cur.token, 0), coalesce(cur.lease_ns, 0), cur.data,
	coalesce(cur.released, false), coalesce(cur.attrs, '{}'::jsonb)`

const joinAll = `FROM (VALUES (1)) AS one(x) LEFT JOIN cur ON true`

func buildStatements(t string) statements {
	return statements{
		get: fmt.Sprintf(`SELECT true, owner, version, token, lease_ns, data, released, attrs
			FROM %s WHERE pkey = $1 AND skey = $2`, t),

		// The UPDATE names cur in FROM so that it runs after the row lock
		// is taken, and its condition reads cur, never t: the scan of t
		// sees the statement's snapshot, which may predate the version cur
		// waited for and locked, and a row filtered out on that old
		// version is never re-checked. Conditions on cur are decided on
		// the locked version; the UPDATE then follows the row's update
		// chain to that same version (READ COMMITTED re-check), so SET
		// expressions on t (token + 1, kept data, merged attributes) read
		// it too. The INSERT runs only when cur
		// found nothing; ON CONFLICT DO NOTHING makes it lose quietly to
		// a concurrent insert, and Acquire then runs the statement again
		// against the row that won.
		acquire: fmt.Sprintf(`WITH `+curCTE+`,
			upd AS (
				UPDATE %[1]s AS t
				   SET owner = $3, version = $4, lease_ns = $5, token = t.token + 1, released = false,
				       data = CASE WHEN $7::boolean AND $6::bytea IS NULL THEN t.data ELSE $6::bytea END,
				       attrs = t.attrs || $8::jsonb
				  FROM cur
				 WHERE t.pkey = $1 AND t.skey = $2
				   AND CASE WHEN $9::text = '' THEN cur.released ELSE cur.version = $9::text END
				RETURNING t.token, t.data, t.attrs),
			ins AS (
				INSERT INTO %[1]s (pkey, skey, owner, version, token, lease_ns, data, released, attrs)
				SELECT $1, $2, $3, $4, 1, $5, $6::bytea, false, $8::jsonb
				 WHERE NOT EXISTS (SELECT 1 FROM cur) AND $9::text = '' AND NOT $10::boolean
				ON CONFLICT (pkey, skey) DO NOTHING
				RETURNING token, data, attrs)
			SELECT `+curCols+`,
				coalesce(upd.token, ins.token, 0), coalesce(upd.data, ins.data),
				coalesce(upd.attrs, ins.attrs, '{}'::jsonb), upd.token IS NOT NULL OR ins.token IS NOT NULL
			`+joinAll+` LEFT JOIN upd ON true LEFT JOIN ins ON true`, t),

		update: fmt.Sprintf(`WITH `+curCTE+`,
			upd AS (
				UPDATE %[1]s AS t
				   SET owner = $3, version = $4, lease_ns = $5, data = $6::bytea, released = $7,
				       attrs = t.attrs || $8::jsonb
				  FROM cur
				 WHERE t.pkey = $1 AND t.skey = $2 AND cur.version = $9
				RETURNING t.token, t.data, t.attrs)
			SELECT `+curCols+`,
				coalesce(upd.token, 0), upd.data, coalesce(upd.attrs, '{}'::jsonb), upd.token IS NOT NULL
			`+joinAll+` LEFT JOIN upd ON true`, t),

		del: fmt.Sprintf(`WITH `+curCTE+`,
			del AS (
				DELETE FROM %[1]s AS t USING cur
				 WHERE t.pkey = $1 AND t.skey = $2 AND cur.version = $3
				RETURNING t.token)
			SELECT `+curCols+`, 0::bigint, NULL::bytea, '{}'::jsonb, del.token IS NOT NULL
			`+joinAll+` LEFT JOIN del ON true`, t),

		list: fmt.Sprintf(`SELECT pkey, skey, owner, version, token, lease_ns, data, released, attrs
			FROM %s
			WHERE ($1::text = '' OR pkey = $1) AND (NOT $2::boolean OR (pkey, skey) > ($3::text, $4::text))
			ORDER BY pkey, skey LIMIT $5`, t),

		// FOR SHARE blocks every UPDATE and DELETE of the row, so no
		// takeover can commit until the guarded transaction ends.
		guard: fmt.Sprintf(`SELECT owner, token, released FROM %s
			WHERE pkey = $1 AND skey = $2 FOR SHARE`, t),

		lockRow: fmt.Sprintf(`SELECT true, owner, version, token, lease_ns, data, released, attrs
			FROM %s WHERE pkey = $1 AND skey = $2 FOR UPDATE`, t),
		release: fmt.Sprintf(`UPDATE %s
			   SET owner = $3, version = $4, lease_ns = $5, data = $6::bytea, released = $7,
			       attrs = attrs || $8::jsonb
			 WHERE pkey = $1 AND skey = $2 AND version = $9`, t),
		releaseDelete: fmt.Sprintf(`DELETE FROM %s WHERE pkey = $1 AND skey = $2 AND version = $3`, t),
	}
}

// row is a lock row as the statements return it.
type row struct {
	found    bool
	owner    string
	version  string
	token    int64
	leaseNs  int64
	data     []byte
	released bool
	attrs    map[string]string
}

func (r *row) dest() []any {
	return []any{&r.found, &r.owner, &r.version, &r.token, &r.leaseNs, &r.data, &r.released, &r.attrs}
}

// record converts a row; the key is the one asked for, since the statement
// selected by it.
func (r *row) record(key backend.Key) (backend.Record, error) {
	if r.token < 0 || r.leaseNs < 0 {
		return backend.Record{}, fmt.Errorf("pgstore: %q: corrupt row (token %d, lease %d ns)", key, r.token, r.leaseNs)
	}
	rec := backend.Record{
		Key:           key,
		Owner:         r.owner,
		Version:       r.version,
		Token:         uint64(r.token),
		LeaseDuration: time.Duration(r.leaseNs),
		Released:      r.released,
	}
	if len(r.data) > 0 {
		rec.Data = r.data
	}
	if len(r.attrs) > 0 {
		rec.Attributes = r.attrs
	}
	return rec, nil
}

// outcome is the tail of a write's result: what the write stored.
type outcome struct {
	token   int64
	data    []byte
	attrs   map[string]string
	applied bool
}

func (o *outcome) dest() []any { return []any{&o.token, &o.data, &o.attrs, &o.applied} }

// emptyToNil stores empty data as NULL: empty and no data are one thing to
// the contract, and NULL is what KeepData tests for.
func emptyToNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// attrsArg is what a write merges into the stored attributes; never NULL,
// since jsonb || NULL is NULL.
func attrsArg(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
