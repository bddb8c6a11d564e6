package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/leaselock/leaselock/pgstore"
)

// createTable creates the PostgreSQL lock table, or says that it exists
// and checks it: pgstore's CREATE TABLE IF NOT EXISTS is idempotent, and
// an existing table is never altered (not even its comment).
func (spec pgSpec) createTable(ctx context.Context, e *env, f tableCreateFlags) error {
	if flag := f.dynamoOnly(); flag != "" {
		return usageErr("table create", "%s applies to DynamoDB tables only", flag)
	}
	ctx, cancel := withTimeout(ctx, defaultStoreTimeout)
	defer cancel()
	opened, err := spec.open(ctx, e, attemptTimeout)
	if err != nil {
		return err
	}
	defer opened.close()
	st := opened.(*pgStore)
	exists, err := st.exists(ctx)
	if err != nil {
		return timedOut(e, ctx, err)
	}
	if exists {
		fmt.Fprintf(e.stdout, "%s already exists\n", st.where())
		return timedOut(e, ctx, st.check(ctx))
	}
	if err := st.CreateTable(ctx); err != nil {
		return timedOut(e, ctx, err)
	}
	fmt.Fprintf(e.stdout, "created %s (%s)\n", st.where(), pgstore.SchemaVersion)
	return nil
}

// pgTableDescription is describe's output for a PostgreSQL table.
type pgTableDescription struct {
	Table      string     `json:"table"`         // as table= names it
	Qualified  string     `json:"qualifiedName"` // schema.table, as search_path resolved it
	Database   string     `json:"database"`
	Server     string     `json:"server"`
	Layout     string     `json:"layout,omitempty"` // the table's comment: pgstore's schema version
	Columns    []pgColumn `json:"columns"`
	PrimaryKey []string   `json:"primaryKey"`
	Rows       int64      `json:"rows"`
	Matches    bool       `json:"matchesStoreURL"`
	Problems   []string   `json:"problems,omitempty"`

	checkErr error // CheckTable's verdict
}

type pgColumn struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	NotNull bool   `json:"notNull"`
}

// describeTable reads the table from the catalogs and has pgstore check
// it (CheckTable): what it finds wrong is listed, not an error here.
func (spec pgSpec) describeTable(ctx context.Context, e *env) (tableInfo, error) {
	opened, err := spec.open(ctx, e, attemptTimeout)
	if err != nil {
		return nil, err
	}
	defer opened.close()
	st := opened.(*pgStore)
	d := pgTableDescription{Table: spec.table, Database: spec.database(), Server: spec.server()}
	var comment *string
	err = st.pool.QueryRow(ctx, `
		SELECT n.nspname || '.' || c.relname, obj_description(c.oid, 'pg_class')
		  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.oid = to_regclass($1)`, st.quoted()).Scan(&d.Qualified, &comment)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, &pgTableMissingError{where: st.where()}
	case err != nil:
		return nil, err
	}
	if comment != nil {
		d.Layout = *comment
	}
	rows, err := st.pool.Query(ctx, `
		SELECT attname, format_type(atttypid, atttypmod), attnotnull
		  FROM pg_attribute
		 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
		 ORDER BY attnum`, st.quoted())
	if err != nil {
		return nil, err
	}
	d.Columns, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgColumn, error) {
		var col pgColumn
		err := r.Scan(&col.Name, &col.Type, &col.NotNull)
		return col, err
	})
	if err != nil {
		return nil, err
	}
	err = st.pool.QueryRow(ctx, `
		SELECT coalesce(array_agg(a.attname::text ORDER BY k.ord), '{}')
		  FROM pg_index i
		  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
		  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		 WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, st.quoted()).Scan(&d.PrimaryKey)
	if err != nil {
		return nil, err
	}
	if err := st.pool.QueryRow(ctx, `SELECT count(*) FROM `+st.quoted()).Scan(&d.Rows); err != nil {
		return nil, err
	}
	d.checkErr = st.check(ctx)
	switch {
	case d.checkErr == nil:
		d.Matches = true
	case errors.Is(d.checkErr, pgstore.ErrSchema):
		d.Problems = schemaMismatches(d.checkErr)
	default:
		return nil, d.checkErr
	}
	return d, nil
}

// schemaMismatches lists what pgstore's CheckTable found wrong: its
// message is "ErrSchema: table NAME: PROBLEM; PROBLEM".
func schemaMismatches(err error) []string {
	msg := strings.TrimPrefix(err.Error(), pgstore.ErrSchema.Error()+": ")
	if strings.HasPrefix(msg, "table ") {
		if _, problems, ok := strings.Cut(msg, ": "); ok {
			msg = problems
		}
	}
	return strings.Split(msg, "; ")
}

func (d pgTableDescription) print(w io.Writer) {
	row := func(k, v string) { fmt.Fprintf(w, "%-10s %s\n", k, v) }
	row("table", d.Qualified)
	row("database", fmt.Sprintf("%s at %s", d.Database, d.Server))
	row("layout", orDash(d.Layout))
	cols := make([]string, len(d.Columns))
	for i, c := range d.Columns {
		cols[i] = c.Name + " " + c.Type
		if c.NotNull {
			cols[i] += " NOT NULL"
		}
	}
	row("columns", strings.Join(cols, ", "))
	row("primary", "("+strings.Join(d.PrimaryKey, ", ")+")")
	row("rows", fmt.Sprint(d.Rows))
	if d.Matches {
		row("store URL", "matches: the table has pgstore's layout")
	} else {
		row("store URL", "DOES NOT MATCH: "+strings.Join(d.Problems, "; "))
	}
}

// mismatch: CheckTable's verdict, which names every difference.
func (d pgTableDescription) mismatch() error {
	if d.Matches {
		return nil
	}
	return d.checkErr
}
