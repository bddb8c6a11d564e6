package dynamostore

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
)

// Acquire implements backend.Store. With the counter on the item (the Java
// format's default) it is one UpdateItem: conditional on the key being free
// (absent, or marked released) or on the expected version, it sets the
// lease, removes the released marker, adds 1 to the fencing counter and
// returns the old item, from which the replaced record and the new token
// follow. With a counter item (the Python format's default) see
// acquireFenced.
func (s *Store) Acquire(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	if err := s.checkRecord(req.Record); err != nil {
		return backend.Acquired{}, err
	}
	if s.opts.Fencing == FencingCounterItem {
		return s.acquireFenced(ctx, req)
	}
	return s.acquireItem(ctx, req, true)
}

// acquireItem is the conditional UpdateItem of an acquisition. With count it
// adds 1 to the item's fencing counter; without, it removes the counter,
// for acquireFenced to write the token it draws from the counter item.
func (s *Store) acquireItem(ctx context.Context, req backend.AcquireRequest, count bool) (backend.Acquired, error) {
	rec := req.Record
	u := newUpdate()
	s.lease(u, rec, !req.KeepData)
	u.drop("r", s.f.released)
	counter := "ADD #f :inc"
	if count {
		u.names["#f"] = s.f.token
		u.values[":inc"] = &types.AttributeValueMemberN{Value: "1"}
	} else {
		u.drop("f", s.f.token)
		counter = ""
	}

	var cond string
	switch {
	case req.ExpectVersion != "":
		cond = "#v = :e"
		u.values[":e"] = &types.AttributeValueMemberS{Value: req.ExpectVersion}
	case req.MustExist:
		cond = "#r = :one"
		u.values[":one"] = &types.AttributeValueMemberS{Value: releasedValue}
	default:
		cond = "attribute_not_exists(#k) OR #r = :one"
		u.names["#k"] = s.opts.PartitionKeyName
		u.values[":one"] = &types.AttributeValueMemberS{Value: releasedValue}
	}

	tr := new(tracker)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.keyItem(rec.Key),
		UpdateExpression:                    aws.String(u.expression(counter)),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            u.names,
		ExpressionAttributeValues:           u.values,
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, tr.option)
	if err != nil {
		if item, ok := conditionFailed(err); ok {
			// The free-key condition can only fail on an existing item.
			mustExist := req.ExpectVersion == "" && !req.MustExist
			return backend.Acquired{}, s.conflict(ctx, rec.Key, item, mustExist, tr)
		}
		return backend.Acquired{}, s.classify(err, "acquire", rec.Key, true, tr)
	}

	stored := rec.Clone()
	stored.Token, stored.Released = 0, false
	if count {
		stored.Token = 1
	}
	var replaced *backend.Record
	if len(out.Attributes) > 0 {
		old, err := s.decode(out.Attributes)
		if err != nil {
			return backend.Acquired{}, err
		}
		replaced = &old
		if count {
			stored.Token = old.Token + 1
		}
		if req.KeepData && len(stored.Data) == 0 {
			stored.Data = old.Data
		}
		stored.Attributes = mergeAttributes(old.Attributes, stored.Attributes)
	}
	if len(stored.Data) == 0 {
		stored.Data = nil
	}
	return backend.Acquired{Record: stored, Replaced: replaced}, nil
}

// Update implements backend.Store with one UpdateItem conditional on the
// version; it returns the new item, which carries the unchanged token.
func (s *Store) Update(ctx context.Context, rec backend.Record, expectVersion string) (backend.Record, error) {
	if err := s.checkRecord(rec); err != nil {
		return backend.Record{}, err
	}
	u := s.updateTo(rec, expectVersion)

	tr := new(tracker)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.keyItem(rec.Key),
		UpdateExpression:                    aws.String(u.expression("")),
		ConditionExpression:                 aws.String("#v = :e"),
		ExpressionAttributeNames:            u.names,
		ExpressionAttributeValues:           u.values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, tr.option)
	if err != nil {
		if item, ok := conditionFailed(err); ok {
			return backend.Record{}, s.conflict(ctx, rec.Key, item, false, tr)
		}
		return backend.Record{}, s.classify(err, "update", rec.Key, true, tr)
	}
	stored, err := s.decode(out.Attributes)
	if err != nil {
		return backend.Record{}, err
	}
	return stored, nil
}

// updateTo builds the update that writes rec over the record at
// expectVersion (the condition is "#v = :e"), keeping the fencing token.
func (s *Store) updateTo(rec backend.Record, expectVersion string) *update {
	u := newUpdate()
	s.lease(u, rec, true)
	if rec.Released {
		u.names["#r"] = s.f.released
		u.values[":one"] = &types.AttributeValueMemberS{Value: releasedValue}
		u.set = append(u.set, "#r = :one")
	} else {
		u.drop("r", s.f.released)
	}
	u.values[":e"] = &types.AttributeValueMemberS{Value: expectVersion}
	return u
}

// Delete implements backend.Store with one DeleteItem conditional on the
// version.
func (s *Store) Delete(ctx context.Context, key backend.Key, expectVersion string) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	tr := new(tracker)
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.keyItem(key),
		ConditionExpression:                 aws.String("#v = :e"),
		ExpressionAttributeNames:            map[string]string{"#v": s.f.version},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":e": &types.AttributeValueMemberS{Value: expectVersion}},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, tr.option)
	if err != nil {
		if item, ok := conditionFailed(err); ok {
			return s.conflict(ctx, key, item, false, tr)
		}
		return s.classify(err, "delete", key, true, tr)
	}
	return nil
}

// tokenValue renders a fencing token as a DynamoDB number.
func tokenValue(t uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(t, 10)}
}
