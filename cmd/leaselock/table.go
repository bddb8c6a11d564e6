package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/dynamostore"
)

const tableHelp = `
Usage: leaselock table create   [flags]
       leaselock table describe [flags]

create makes the lock table named by the store URL, with its partition key
(pk=, default "key") and optional sort key (sk= or --sort-key), both
strings, waits until it is ACTIVE and turns on DynamoDB TTL when a TTL
attribute is given (ttl= or --ttl). The table is in the format of Amazon's
Java AmazonDynamoDBLockClient, so Java services can share it.

describe shows the table's status, key schema, billing mode, item count and
TTL, and checks its key schema against the store URL.

Run 'leaselock table create --help' or 'leaselock table describe --help'
for flags.

Exit codes: 0 done; 1 the table already exists (create without
--if-not-exists); 64 usage; 69 DynamoDB unreachable; 78 AWS configuration
or credentials, table missing (describe), or key schema differs from the
store URL (describe).
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

Creates the lock table named by the store URL and waits until it is ACTIVE.
The key schema comes from the URL: pk= (default "key") and sk= (no sort key
by default); --sort-key and --ttl may stand in for sk= and ttl=. On-demand
billing unless --billing provisioned with --read and --write capacity.

Example:
  leaselock table create --store 'dynamodb://locks?region=eu-west-1' --ttl expiresAt

Exit codes: 0 created (or exists, with --if-not-exists); 1 the table
already exists; 64 usage; 69 DynamoDB unreachable; 78 AWS configuration or
credentials.
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

func tableCreate(ctx context.Context, e *env, args []string) error {
	const cmd = "table create"
	fs := newFlags(cmd)
	storeURL := storeFlag(fs)
	sortKey := fs.String("sort-key", "", "sort key attribute `name` (same as sk= in the store URL)")
	ttl := fs.String("ttl", "", "TTL `attribute`: enable DynamoDB TTL on it (same as ttl= in the store URL)")
	billing := fs.String("billing", "on-demand", "billing `mode`: on-demand or provisioned")
	rcu := fs.Int64("read", 0, "provisioned read capacity `units` (with --billing provisioned)")
	wcu := fs.Int64("write", 0, "provisioned write capacity `units` (with --billing provisioned)")
	tags := tagsFlag{}
	fs.Var(tags, "tag", "`KEY=VALUE` tag for the table (repeatable)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the table to become ACTIVE")
	ifNotExists := fs.Bool("if-not-exists", false, "succeed when the table already exists")
	pos, _, err := parse(e, fs, tableCreateHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr(cmd, "unexpected argument %q", pos[0])
	}
	var topts dynamostore.TableOptions
	switch *billing {
	case "on-demand", "pay-per-request":
		if *rcu != 0 || *wcu != 0 {
			return usageErr(cmd, "--read and --write need --billing provisioned")
		}
	case "provisioned":
		if *rcu <= 0 || *wcu <= 0 {
			return usageErr(cmd, "--billing provisioned needs positive --read and --write")
		}
		topts.ReadCapacity, topts.WriteCapacity = *rcu, *wcu
	default:
		return usageErr(cmd, "--billing must be on-demand or provisioned, not %q", *billing)
	}
	if *wait <= 0 {
		return usageErr(cmd, "--wait must be positive")
	}
	topts.Tags, topts.WaitTimeout = tags, *wait

	// --sort-key and --ttl fill in the URL; they must not contradict it.
	raw := *storeURL
	if raw == "" {
		raw = e.getenv(storeEnv)
	}
	if raw != "" && (*sortKey != "" || *ttl != "") {
		spec, err := parseStoreURL(raw)
		if err != nil {
			return usageErr(cmd, "%v", err)
		}
		q := url.Values{}
		for _, p := range []struct{ flag, name, inURL, given string }{
			{"--sort-key", "sk", spec.opts.SortKeyName, *sortKey},
			{"--ttl", "ttl", spec.opts.TTLAttribute, *ttl},
		} {
			switch {
			case p.given == "":
			case p.inURL != "" && p.inURL != p.given:
				return usageErr(cmd, "%s %q contradicts %s=%s in the store URL", p.flag, p.given, p.name, p.inURL)
			case p.inURL == "":
				q.Set(p.name, p.given)
			}
		}
		if len(q) > 0 {
			sep := "?"
			if strings.Contains(raw, "?") {
				sep = "&"
			}
			raw += sep + q.Encode()
		}
	}
	spec, err := resolveStoreURL(e, cmd, raw)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, e, spec, attemptTimeout)
	if err != nil {
		return err
	}
	info, err := st.CreateTable(ctx, topts)
	if errors.Is(err, dynamostore.ErrTableExists) {
		if *ifNotExists {
			fmt.Fprintf(e.stdout, "table %q already exists\n", st.spec.table)
			return st.check(ctx)
		}
		return fail(exitRefused, fmt.Errorf("%s already exists", st.where()),
			"Pass --if-not-exists to accept an existing table; 'leaselock table describe' shows it.")
	}
	if err != nil {
		return err
	}
	o := st.Options()
	fmt.Fprintf(e.stdout, "created table %q: partition key %q", st.spec.table, o.PartitionKeyName)
	if o.SortKeyName != "" {
		fmt.Fprintf(e.stdout, ", sort key %q", o.SortKeyName)
	}
	if topts.ReadCapacity > 0 {
		fmt.Fprintf(e.stdout, ", provisioned (read %d, write %d)\n", topts.ReadCapacity, topts.WriteCapacity)
	} else {
		fmt.Fprintln(e.stdout, ", on-demand")
	}
	switch {
	case o.TTLAttribute == "":
	case info.TTLEnabled:
		fmt.Fprintf(e.stdout, "TTL enabled on %q\n", o.TTLAttribute)
	default:
		fmt.Fprintf(e.stdout, "TTL: this server has no TTL; %q is still written on every lock\n", o.TTLAttribute)
	}
	fmt.Fprintf(e.stdout, "store URL: %s\n", canonicalURL(st.spec))
	return nil
}

// canonicalURL spells a store spec as a URL with every layout parameter.
func canonicalURL(s storeSpec) string {
	var params []string
	add := func(k, v string) {
		if v != "" {
			params = append(params, k+"="+queryEscape(v))
		}
	}
	add("region", s.region)
	add("endpoint", s.endpoint)
	add("profile", s.profile)
	if s.opts.Format != dynamostore.FormatJava {
		add("format", s.opts.Format.String())
	}
	if s.opts.PartitionKeyName != dynamostore.DefaultPartitionKeyName {
		add("pk", s.opts.PartitionKeyName)
	}
	add("sk", s.opts.SortKeyName)
	add("ttl", s.opts.TTLAttribute)
	u := "dynamodb://" + s.table
	if len(params) > 0 {
		u += "?" + strings.Join(params, "&")
	}
	return u
}

// queryEscape escapes a query value, leaving the characters a query may
// hold as they are, so endpoints stay readable.
func queryEscape(v string) string {
	var b strings.Builder
	for _, c := range []byte(v) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:/@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

const tableDescribeHelp = `
Usage: leaselock table describe --store URL [--json] [--timeout 30s]

Shows the lock table: status, key schema, billing mode, approximate item
count, TTL, and whether its key schema matches the store URL.

Exit codes: 0 the table exists and matches the store URL; 64 usage;
69 DynamoDB unreachable; 78 AWS configuration or credentials, no such table,
or a key schema that differs from the store URL (printed first).
`

// tableDescription is describe's output.
type tableDescription struct {
	Table         string   `json:"table"`
	Status        string   `json:"status"`
	PartitionKey  string   `json:"partitionKey"`
	SortKey       string   `json:"sortKey,omitempty"`
	Billing       string   `json:"billing"`
	ReadCapacity  int64    `json:"readCapacity,omitempty"`
	WriteCapacity int64    `json:"writeCapacity,omitempty"`
	ItemCount     int64    `json:"itemCount"`
	TTL           string   `json:"ttl"`
	TTLAttribute  string   `json:"ttlAttribute,omitempty"`
	ARN           string   `json:"arn,omitempty"`
	Matches       bool     `json:"matchesStoreURL"`
	Problems      []string `json:"problems,omitempty"`
}

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
	d, err := describeTable(ctx, e, spec)
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
		printTable(e, d)
	}
	if len(d.Problems) > 0 {
		return &schemaError{table: spec.table, problems: d.Problems}
	}
	return nil
}

// describeTable reads what describe shows.
func describeTable(ctx context.Context, e *env, spec storeSpec) (tableDescription, error) {
	st, err := openStore(ctx, e, spec, attemptTimeout)
	if err != nil {
		return tableDescription{}, err
	}
	t, err := st.describe(ctx)
	if err != nil {
		return tableDescription{}, err
	}
	problems := schemaProblems(t, spec)
	d := tableDescription{Table: st.spec.table, Status: string(t.TableStatus), ItemCount: aws.ToInt64(t.ItemCount),
		ARN: aws.ToString(t.TableArn), Matches: len(problems) == 0, Problems: problems, Billing: "PROVISIONED"}
	attrTypes := map[string]string{}
	for _, a := range t.AttributeDefinitions {
		attrTypes[aws.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	for _, k := range t.KeySchema {
		name := aws.ToString(k.AttributeName)
		desc := fmt.Sprintf("%s (%s)", name, attrTypes[name])
		if k.KeyType == types.KeyTypeHash {
			d.PartitionKey = desc
		} else {
			d.SortKey = desc
		}
	}
	if t.BillingModeSummary != nil && t.BillingModeSummary.BillingMode == types.BillingModePayPerRequest {
		d.Billing = "PAY_PER_REQUEST"
	} else if p := t.ProvisionedThroughput; p != nil {
		if aws.ToInt64(p.ReadCapacityUnits) == 0 && aws.ToInt64(p.WriteCapacityUnits) == 0 {
			d.Billing = "PAY_PER_REQUEST"
		}
		d.ReadCapacity, d.WriteCapacity = aws.ToInt64(p.ReadCapacityUnits), aws.ToInt64(p.WriteCapacityUnits)
	}
	ttl, err := st.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(st.spec.table)})
	switch {
	case err != nil:
		d.TTL = "unknown (the server does not answer DescribeTimeToLive)"
	case ttl.TimeToLiveDescription == nil:
		d.TTL = "DISABLED"
	default:
		d.TTL = string(ttl.TimeToLiveDescription.TimeToLiveStatus)
		d.TTLAttribute = aws.ToString(ttl.TimeToLiveDescription.AttributeName)
	}
	return d, nil
}

func printTable(e *env, d tableDescription) {
	w := e.stdout
	row := func(k, v string) { fmt.Fprintf(w, "%-10s %s\n", k, v) }
	row("table", d.Table)
	row("status", d.Status)
	row("partition", d.PartitionKey)
	row("sort key", orDash(d.SortKey))
	billing := d.Billing
	if d.Billing == "PROVISIONED" {
		billing += fmt.Sprintf(" (read %d, write %d)", d.ReadCapacity, d.WriteCapacity)
	}
	row("billing", billing)
	row("items", fmt.Sprintf("%d (approximate; DynamoDB refreshes it about every six hours)", d.ItemCount))
	ttlDesc := d.TTL
	if d.TTLAttribute != "" {
		ttlDesc += fmt.Sprintf(" on %q", d.TTLAttribute)
	}
	row("TTL", ttlDesc)
	if d.ARN != "" {
		row("arn", d.ARN)
	}
	if d.Matches {
		row("store URL", "matches the table's key schema")
	} else {
		row("store URL", "DOES NOT MATCH: "+strings.Join(d.Problems, "; "))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
