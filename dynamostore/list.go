package dynamostore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
)

// DefaultListLimit is the page size when ListRequest.Limit is zero.
const DefaultListLimit = 100

// List implements backend.Lister: a strongly consistent Scan of the table,
// or a Query of one partition when req.Partition is set. Items that are not
// lock records (application items written beside the locks) are filtered
// out, so a page may hold fewer than Limit records, even none, while Next
// is still set; a listing ends when Next is empty.
func (s *Store) List(ctx context.Context, req backend.ListRequest) (backend.ListPage, error) {
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	start, err := s.decodePageToken(req.PageToken)
	if err != nil {
		return backend.ListPage{}, err
	}
	names := map[string]string{"#v": s.f.version}
	filter := aws.String("attribute_exists(#v)")
	tr := new(tracker)
	var items []map[string]types.AttributeValue
	var last map[string]types.AttributeValue
	if req.Partition != "" {
		if err := backend.ValidateKey(backend.Key{Partition: req.Partition}, MaxPartitionKeyBytes); err != nil {
			return backend.ListPage{}, fmt.Errorf("dynamostore: list: %w", err)
		}
		names["#k"] = s.opts.PartitionKeyName
		out, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("#k = :k"),
			FilterExpression:          filter,
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: req.Partition}},
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(int32(min(limit, 1<<30))),
			ExclusiveStartKey:         start,
		}, tr.option)
		if err != nil {
			return backend.ListPage{}, s.classify(err, "list", backend.Key{Partition: req.Partition}, false, tr)
		}
		items, last = out.Items, out.LastEvaluatedKey
	} else {
		out, err := s.api.Scan(ctx, &dynamodb.ScanInput{
			TableName:                aws.String(s.table),
			FilterExpression:         filter,
			ExpressionAttributeNames: names,
			ConsistentRead:           aws.Bool(true),
			Limit:                    aws.Int32(int32(min(limit, 1<<30))),
			ExclusiveStartKey:        start,
		}, tr.option)
		if err != nil {
			return backend.ListPage{}, s.classify(err, "list", backend.Key{}, false, tr)
		}
		items, last = out.Items, out.LastEvaluatedKey
	}
	page := backend.ListPage{Records: make([]backend.Record, 0, len(items))}
	for _, item := range items {
		rec, err := s.decode(item)
		if err != nil {
			return backend.ListPage{}, err
		}
		page.Records = append(page.Records, rec)
	}
	if len(last) > 0 {
		page.Next = s.encodePageToken(last)
	}
	return page, nil
}

// Page tokens are DynamoDB's LastEvaluatedKey, the table's key attributes
// only (both S), as base64url JSON: opaque to callers and checked on the
// way back in.

func (s *Store) encodePageToken(last map[string]types.AttributeValue) string {
	m := make(map[string]string, 2)
	for _, name := range []string{s.opts.PartitionKeyName, s.opts.SortKeyName} {
		if name == "" {
			continue
		}
		if v, ok := last[name].(*types.AttributeValueMemberS); ok {
			m[name] = v.Value
		}
	}
	b, _ := json.Marshal(m) // cannot fail for strings
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Store) decodePageToken(tok string) (map[string]types.AttributeValue, error) {
	if tok == "" {
		return nil, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("dynamostore: %w: bad page token: %s", backend.ErrInvalid, why)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, bad(err.Error())
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, bad(err.Error())
	}
	start := make(map[string]types.AttributeValue, len(m))
	for name, v := range m {
		if name != s.opts.PartitionKeyName && (s.opts.SortKeyName == "" || name != s.opts.SortKeyName) {
			return nil, bad(fmt.Sprintf("unknown key attribute %q", name))
		}
		start[name] = &types.AttributeValueMemberS{Value: v}
	}
	if _, ok := start[s.opts.PartitionKeyName]; !ok {
		return nil, bad("no partition key")
	}
	return start, nil
}
