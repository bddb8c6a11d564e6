package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
)

// TableOptions configure CreateTable.
type TableOptions struct {
	// ReadCapacity and WriteCapacity, when both set, create a provisioned
	// table; when both are zero the table is on-demand (pay per request).
	ReadCapacity, WriteCapacity int64

	// Tags to put on the table.
	Tags map[string]string

	// WaitTimeout bounds the wait for the table to become ACTIVE. Zero
	// means 5 minutes.
	WaitTimeout time.Duration
}

// TableInfo reports what CreateTable did.
type TableInfo struct {
	// TTLEnabled is true when Options.TTLAttribute is set and the server
	// accepted UpdateTimeToLive. It is false, with no error, on servers
	// that lack it (dynalite).
	TTLEnabled bool
}

// CreateTable creates the store's table with its key schema (partition key
// and optional sort key, both S), waits until it is ACTIVE, and enables TTL
// on Options.TTLAttribute when that is set and the server supports it.
// A table that already exists gives an error wrapping ErrTableExists.
func (s *Store) CreateTable(ctx context.Context, opts TableOptions) (TableInfo, error) {
	var info TableInfo
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(s.table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(s.opts.PartitionKeyName), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(s.opts.PartitionKeyName), KeyType: types.KeyTypeHash},
		},
	}
	if s.opts.SortKeyName != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(s.opts.SortKeyName), AttributeType: types.ScalarAttributeTypeS})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{
			AttributeName: aws.String(s.opts.SortKeyName), KeyType: types.KeyTypeRange})
	}
	switch {
	case opts.ReadCapacity == 0 && opts.WriteCapacity == 0:
		in.BillingMode = types.BillingModePayPerRequest
	case opts.ReadCapacity > 0 && opts.WriteCapacity > 0:
		in.BillingMode = types.BillingModeProvisioned
		in.ProvisionedThroughput = &types.ProvisionedThroughput{
			ReadCapacityUnits: aws.Int64(opts.ReadCapacity), WriteCapacityUnits: aws.Int64(opts.WriteCapacity)}
	default:
		return info, &OptionsError{"TableOptions.ReadCapacity/WriteCapacity", "set both (provisioned) or neither (on-demand)"}
	}
	for k, v := range opts.Tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := s.api.CreateTable(ctx, in)
	if err != nil {
		if errorCode(err) == codeResourceInUse {
			return info, fmt.Errorf("dynamostore: create table %q: %w", s.table, ErrTableExists)
		}
		return info, s.classify(err, "create table", backend.Key{}, false, nil)
	}
	if out.TableDescription == nil || out.TableDescription.TableStatus != types.TableStatusActive {
		wait := opts.WaitTimeout
		if wait <= 0 {
			wait = 5 * time.Minute
		}
		if err := s.waitActive(ctx, wait); err != nil {
			return info, err
		}
	}
	if s.opts.TTLAttribute == "" {
		return info, nil
	}
	_, err = s.api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(s.table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(s.opts.TTLAttribute), Enabled: aws.Bool(true)},
	})
	switch {
	case err == nil:
		info.TTLEnabled = true
	case errorCode(err) == codeUnknownOperation:
		// The server has no TTL (dynalite): the attribute is still written.
	default:
		return info, s.classify(err, "enable TTL on", backend.Key{}, false, nil)
	}
	return info, nil
}

// waitActive polls DescribeTable until the table is ACTIVE, backing off
// from 20 ms (emulators are ready at once) to 2 s (DynamoDB takes seconds).
func (s *Store) waitActive(ctx context.Context, max time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
		if err == nil && out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		if err != nil && errorCode(err) != codeResourceNotFound {
			return s.classify(err, "wait for table", backend.Key{}, false, nil)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dynamostore: table %q not ACTIVE after %v: %w", s.table, max, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// TableExists reports whether the table exists (in any status).
func (s *Store) TableExists(ctx context.Context) (bool, error) {
	_, err := s.describe(ctx)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrTableNotFound):
		return false, nil
	}
	return false, err
}

func (s *Store) describe(ctx context.Context) (*types.TableDescription, error) {
	out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	if err != nil {
		return nil, s.classify(err, "describe table", backend.Key{}, false, nil)
	}
	if out.Table == nil {
		return nil, fmt.Errorf("dynamostore: describe table %q: empty answer", s.table)
	}
	return out.Table, nil
}

// AssertTable checks that the table exists and that its key schema is the
// one the Options describe: the partition key, and the sort key if any,
// with their names and type S. A mismatch is a *SchemaError listing every
// difference; a missing table wraps ErrTableNotFound.
func (s *Store) AssertTable(ctx context.Context) error {
	t, err := s.describe(ctx)
	if err != nil {
		return err
	}
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, d := range t.AttributeDefinitions {
		attrTypes[deref(d.AttributeName)] = d.AttributeType
	}
	var hash, rng string
	for _, k := range t.KeySchema {
		switch k.KeyType {
		case "HASH":
			hash = deref(k.AttributeName)
		case "RANGE":
			rng = deref(k.AttributeName)
		}
	}
	var problems []string
	if hash != s.opts.PartitionKeyName {
		problems = append(problems, fmt.Sprintf("partition key is %q, the store uses %q (Options.PartitionKeyName)",
			hash, s.opts.PartitionKeyName))
	} else if ty := attrTypes[hash]; ty != "S" {
		problems = append(problems, fmt.Sprintf("partition key %q has type %s, the store needs S", hash, ty))
	}
	switch {
	case rng == "" && s.opts.SortKeyName != "":
		problems = append(problems, fmt.Sprintf("table has no sort key, the store uses %q (Options.SortKeyName)",
			s.opts.SortKeyName))
	case rng != "" && s.opts.SortKeyName == "":
		problems = append(problems, fmt.Sprintf("table has sort key %q, the store uses none (set Options.SortKeyName)", rng))
	case rng != s.opts.SortKeyName:
		problems = append(problems, fmt.Sprintf("sort key is %q, the store uses %q (Options.SortKeyName)",
			rng, s.opts.SortKeyName))
	case rng != "" && attrTypes[rng] != "S":
		problems = append(problems, fmt.Sprintf("sort key %q has type %s, the store needs S", rng, attrTypes[rng]))
	}
	if len(problems) > 0 {
		return &SchemaError{Table: s.table, Problems: problems}
	}
	return nil
}
