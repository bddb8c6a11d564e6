package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
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
func (s *store) describe(ctx context.Context) (*types.TableDescription, error) {
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
func (s *store) check(ctx context.Context) error {
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
func schemaProblems(t *types.TableDescription, spec storeSpec) []string {
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
