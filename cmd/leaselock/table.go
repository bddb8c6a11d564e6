package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"
)

const tableHelp = `
Usage: leaselock table create   [flags]
       leaselock table describe [flags]

create makes the lock table named by the store URL.

On DynamoDB it has the partition key pk= (default "key") and the optional
sort key sk= (or --sort-key), both strings; it waits until the table is
ACTIVE and turns on DynamoDB TTL when a TTL attribute is given (ttl= or
--ttl). The table is in the format of Amazon's Java
AmazonDynamoDBLockClient, so Java services can share it.

On PostgreSQL it is the table= of the URL (default "leaselock"), with
pgstore's layout; create is idempotent there.

describe shows the table and checks it against the store URL: on DynamoDB
its status, key schema, billing mode, item count and TTL; on PostgreSQL its
columns, primary key and row count.

Run 'leaselock table create --help' or 'leaselock table describe --help'
for flags.

Exit codes: 0 done; 1 the DynamoDB table already exists (create without
--if-not-exists); 64 usage; 69 the store unreachable; 78 configuration or
credentials (AWS or PostgreSQL), table missing (describe), or a table that
differs from the store URL.
`

func runTable(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr("table", "missing subcommand: create or describe")
	}
	switch args[0] {
	case "create":
		return tableCreate(ctx, e, args[1:])
	case "describe":
		return tableDescribe(ctx, e, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, strings.TrimLeft(tableHelp, "\n"))
		return nil
	}
	return usageErr("table", "unknown subcommand %q: want create or describe", args[0])
}

const tableCreateHelp = `
Usage: leaselock table create --store URL [flags]

Creates the lock table named by the store URL.

DynamoDB: waits until the table is ACTIVE. The key schema comes from the
URL: pk= (default "key") and sk= (no sort key by default); --sort-key and
--ttl may stand in for sk= and ttl=. On-demand billing unless --billing
provisioned with --read and --write capacity.

PostgreSQL: creates table= (default "leaselock", optionally
schema-qualified) with pgstore's layout, or says that it already exists
and checks it. The flags below other than --store apply to DynamoDB only.

Examples:
  leaselock table create --store 'dynamodb://locks?region=eu-west-1' --ttl expiresAt
  leaselock table create --store 'postgres://app@db.internal/app?table=locks'

Exit codes: 0 created (or exists: always on PostgreSQL, with
--if-not-exists on DynamoDB); 1 the DynamoDB table already exists; 64
usage; 69 the store unreachable; 78 configuration or credentials (AWS or
PostgreSQL), or an existing PostgreSQL table of another layout.
`

// tagsFlag collects repeated --tag KEY=VALUE.
type tagsFlag map[string]string

func (t tagsFlag) String() string { return "" }
func (t tagsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	t[k] = val
	return nil
}

// tableCreateFlags are table create's flags, checked as far as they can be
// without knowing the backend.
type tableCreateFlags struct {
	sortKey, ttl string
	read, write  int64 // provisioned capacity; 0 for on-demand
	tags         map[string]string
	wait         time.Duration
	ifNotExists  bool
	set          []string // the flags given on the command line
}

// dynamoOnly returns the first flag given that only a DynamoDB table
// takes, or "".
func (f tableCreateFlags) dynamoOnly() string {
	for _, name := range f.set {
		switch name {
		case "sort-key", "ttl", "billing", "read", "write", "tag", "wait":
			return "--" + name
		}
	}
	return ""
}

func tableCreate(ctx context.Context, e *env, args []string) error {
	const cmd = "table create"
	fs := newFlags(cmd)
	storeURL := storeFlag(fs)
	sortKey := fs.String("sort-key", "", "sort key attribute `name` (same as sk= in the store URL; DynamoDB)")
	ttl := fs.String("ttl", "", "TTL `attribute`: enable DynamoDB TTL on it (same as ttl= in the store URL; DynamoDB)")
	billing := fs.String("billing", "on-demand", "billing `mode`: on-demand or provisioned (DynamoDB)")
	rcu := fs.Int64("read", 0, "provisioned read capacity `units` (with --billing provisioned)")
	wcu := fs.Int64("write", 0, "provisioned write capacity `units` (with --billing provisioned)")
	tags := tagsFlag{}
	fs.Var(tags, "tag", "`KEY=VALUE` tag for the table (repeatable; DynamoDB)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the table to become ACTIVE (DynamoDB)")
	ifNotExists := fs.Bool("if-not-exists", false, "succeed when the table already exists (PostgreSQL always does)")
	pos, _, err := parse(e, fs, tableCreateHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(cmd, "unexpected argument %q", pos[0])
	}
	f := tableCreateFlags{sortKey: *sortKey, ttl: *ttl, tags: tags, wait: *wait, ifNotExists: *ifNotExists}
	fs.Visit(func(fl *flag.Flag) { f.set = append(f.set, fl.Name) })
	switch *billing {
	case "on-demand", "pay-per-request":
		if *rcu != 0 || *wcu != 0 {
			return usageErr(cmd, "--read and --write need --billing provisioned")
		}
	case "provisioned":
		if *rcu <= 0 || *wcu <= 0 {
			return usageErr(cmd, "--billing provisioned needs positive --read and --write")
		}
		f.read, f.write = *rcu, *wcu
	default:
		return usageErr(cmd, "--billing must be on-demand or provisioned, not %q", *billing)
	}
	if *wait <= 0 {
		return usageErr(cmd, "--wait must be positive")
	}
	spec, err := resolveStoreURL(e, cmd, *storeURL)
	if err != nil {
		return err
	}
	return spec.createTable(ctx, e, f)
}

const tableDescribeHelp = `
Usage: leaselock table describe --store URL [--json] [--timeout 30s]

Shows the lock table and whether it matches the store URL. DynamoDB:
status, key schema, billing mode, approximate item count and TTL, and
whether the key schema matches pk= and sk=. PostgreSQL: the table's
schema-qualified name, database and server, its layout version, columns,
primary key and row count, and whether it has pgstore's layout.

Exit codes: 0 the table exists and matches the store URL; 64 usage;
69 the store unreachable; 78 configuration or credentials (AWS or
PostgreSQL), no such table, or a table that differs from the store URL
(printed first).
`

func tableDescribe(ctx context.Context, e *env, args []string) error {
	const cmd = "table describe"
	fs := newFlags(cmd)
	storeURL := storeFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := timeoutFlag(fs)
	pos, _, err := parse(e, fs, tableDescribeHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(cmd, "unexpected argument %q", pos[0])
	}
	if err := checkTimeout(cmd, *timeout); err != nil {
		return err
	}
	spec, err := resolveStoreURL(e, cmd, *storeURL)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, *timeout)
	defer cancel()
	d, err := spec.describeTable(ctx, e)
	if err != nil {
		return timedOut(e, ctx, err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return err
		}
	} else {
		d.print(e.stdout)
	}
	return d.mismatch()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
