package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/leaselock/leaselock/dynamostore"
)

// tableMissingError: no table of that name where the store URL points.
// The message names region and endpoint: the usual cause is a wrong
// region, and creating the table there would split the locks in two.
type tableMissingError struct {
	where string
}

func (e *tableMissingError) Error() string { return e.where + ": table not found" }

// schemaError: the table exists but its key schema is not the one the
// store URL describes. Problems are worded in URL parameters.
type schemaError struct {
	table    string
	problems []string
}

func (e *schemaError) Error() string {
	return fmt.Sprintf("table %q does not match the store URL: %s", e.table, strings.Join(e.problems, "; "))
}

// describe reads the table's description; a missing table is a
// *tableMissingError.
func (s *dynamoStore) describe(ctx context.Context) (*types.TableDescription, error) {
	out, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.spec.table)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, &tableMissingError{where: s.where()}
	case err != nil:
		return nil, fmt.Errorf("describing %s: %w", s.where(), err)
	case out.Table == nil:
		return nil, fmt.Errorf("describing %s: empty answer", s.where())
	}
	return out.Table, nil
}

// check makes sure the table exists with the key schema the URL describes
// (one DescribeTable). A principal allowed to use the table but not to
// describe it passes.
func (s *dynamoStore) check(ctx context.Context) error {
	t, err := s.describe(ctx)
	if err != nil {
		if isAccessDenied(err) {
			return nil
		}
		return err
	}
	// Judge by the names the store really uses: the URL's, or the format's
	// defaults (format=python: lock_key and sort_key).
	spec := s.spec
	eff := s.Options()
	if spec.opts.PartitionKeyName == "" && eff.PartitionKeyName != "key" {
		spec.opts.PartitionKeyName = eff.PartitionKeyName
	}
	if spec.opts.SortKeyName == "" {
		spec.opts.SortKeyName = eff.SortKeyName
	}
	if p := schemaProblems(t, spec); len(p) > 0 {
		return &schemaError{table: s.spec.table, problems: p}
	}
	return nil
}

// schemaProblems lists how the table's key schema differs from the store
// URL's pk= and sk=.
func schemaProblems(t *types.TableDescription, spec dynamoSpec) []string {
	pk, sk := spec.opts.PartitionKeyName, spec.opts.SortKeyName
	if pk == "" {
		pk = "key"
	}
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, d := range t.AttributeDefinitions {
		attrTypes[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	var hash, rng string
	for _, k := range t.KeySchema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	var problems []string
	switch {
	case hash != pk && spec.opts.PartitionKeyName == "":
		problems = append(problems, fmt.Sprintf("the table's partition key is %q, not the default %q (add pk=%s)", hash, pk, hash))
	case hash != pk:
		problems = append(problems, fmt.Sprintf("the table's partition key is %q, not %q (pk=)", hash, pk))
	case attrTypes[hash] != types.ScalarAttributeTypeS:
		problems = append(problems, fmt.Sprintf("partition key %q has type %s; lock keys need S", hash, attrTypes[hash]))
	}
	switch {
	case rng == "" && sk != "":
		problems = append(problems, fmt.Sprintf("the table has no sort key, the store URL names %q (remove sk=)", sk))
	case rng != "" && sk == "":
		problems = append(problems, fmt.Sprintf("the table has sort key %q, the store URL names none (add sk=%s)", rng, rng))
	case rng != sk:
		problems = append(problems, fmt.Sprintf("the table's sort key is %q, not %q (sk=)", rng, sk))
	case rng != "" && attrTypes[rng] != types.ScalarAttributeTypeS:
		problems = append(problems, fmt.Sprintf("sort key %q has type %s; lock keys need S", rng, attrTypes[rng]))
	}
	return problems
}

func isAccessDenied(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException"
}

// createTable creates the DynamoDB table with the key schema of the store
// URL, completed by --sort-key and --ttl, which must not contradict it.
func (spec dynamoSpec) createTable(ctx context.Context, e *env, f tableCreateFlags) error {
	const cmd = "table create"
	// --sort-key and --ttl fill in the URL; they must not contradict it.
	if f.sortKey != "" || f.ttl != "" {
		raw := spec.raw
		q := url.Values{}
		for _, p := range []struct{ flag, name, inURL, given string }{
			{"--sort-key", "sk", spec.opts.SortKeyName, f.sortKey},
			{"--ttl", "ttl", spec.opts.TTLAttribute, f.ttl},
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
		var err error
		if spec, err = parseDynamoURL(raw); err != nil {
			return usageErr(cmd, "%v", err)
		}
	}
	opened, err := spec.open(ctx, e, attemptTimeout)
	if err != nil {
		return err
	}
	st := opened.(*dynamoStore)
	topts := dynamostore.TableOptions{ReadCapacity: f.read, WriteCapacity: f.write, Tags: f.tags, WaitTimeout: f.wait}
	info, err := st.CreateTable(ctx, topts)
	if errors.Is(err, dynamostore.ErrTableExists) {
		if f.ifNotExists {
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
func canonicalURL(s dynamoSpec) string {
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

// describeTable reads what describe shows.
func (spec dynamoSpec) describeTable(ctx context.Context, e *env) (tableInfo, error) {
	opened, err := spec.open(ctx, e, attemptTimeout)
	if err != nil {
		return nil, err
	}
	st := opened.(*dynamoStore)
	t, err := st.describe(ctx)
	if err != nil {
		return nil, err
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

func (d tableDescription) print(w io.Writer) {
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

// mismatch: the key schema differs from the store URL's.
func (d tableDescription) mismatch() error {
	if len(d.Problems) == 0 {
		return nil
	}
	return &schemaError{table: d.Table, problems: d.Problems}
}
