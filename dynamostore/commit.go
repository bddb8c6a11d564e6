package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/lock"
)

var _ backend.ReleaseCommitter = (*Store)(nil)

// CommitRelease implements backend.ReleaseCommitter with one
// TransactWriteItems: req.Ops (a []types.TransactWriteItem, as for
// WriteGuarded) together with the release of the lock item — an Update
// marking it released, or a Delete — conditioned on the version the holder
// last wrote, which names its owner, token and lease at once. Either all of
// it commits or none of it does. A refused lock item gives a
// *backend.ConflictError with the current record; a failed application
// item a *TransactionError; a server without transactions (dynalite)
// ErrUnsupported. The SDK's idempotency token keeps its own retries from
// applying the transaction twice.
func (s *Store) CommitRelease(ctx context.Context, req backend.CommitReleaseRequest) error {
	items, ok := req.Ops.([]types.TransactWriteItem)
	if !ok {
		return fmt.Errorf("dynamostore: %w: ops must be []types.TransactWriteItem, got %T", backend.ErrInvalid, req.Ops)
	}
	if len(items) > MaxGuardedOps {
		return fmt.Errorf("dynamostore: %w: %d ops, at most %d fit in one transaction with the release",
			backend.ErrInvalid, len(items), MaxGuardedOps)
	}
	rec := req.Record
	if err := s.checkRecord(rec); err != nil {
		return err
	}
	all := make([]types.TransactWriteItem, len(items)+1)
	copy(all, items)
	release := len(items)
	if req.Delete {
		all[release] = types.TransactWriteItem{Delete: &types.Delete{
			TableName:                           aws.String(s.table),
			Key:                                 s.keyItem(rec.Key),
			ConditionExpression:                 aws.String("#v = :e"),
			ExpressionAttributeNames:            map[string]string{"#v": s.f.version},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":e": &types.AttributeValueMemberS{Value: req.ExpectVersion}},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	} else {
		u := s.updateTo(rec, req.ExpectVersion)
		all[release] = types.TransactWriteItem{Update: &types.Update{
			TableName:                           aws.String(s.table),
			Key:                                 s.keyItem(rec.Key),
			UpdateExpression:                    aws.String(u.expression("")),
			ConditionExpression:                 aws.String("#v = :e"),
			ExpressionAttributeNames:            u.names,
			ExpressionAttributeValues:           u.values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	}

	return s.lockTransaction(ctx, "commit and release", rec.Key, all, release,
		func(item map[string]types.AttributeValue, tr *tracker) error {
			return s.conflict(ctx, rec.Key, item, false, tr)
		},
		func(cur *backend.Record) error {
			if cur == nil || cur.Version != req.ExpectVersion {
				return &backend.ConflictError{Key: rec.Key, Current: cur}
			}
			return nil
		})
}

// CommitAndRelease commits items and releases l in one transaction (see
// lock.Lock.CommitAndRelease and Store.CommitRelease): the typed form, so a
// wrong ops type does not compile.
func CommitAndRelease(ctx context.Context, l *lock.Lock, items []types.TransactWriteItem, opts ...lock.ReleaseOption) error {
	return l.CommitAndRelease(ctx, items, opts...)
}

// WriteGuarded commits items only while l is still held (see
// lock.Lock.WriteGuarded and Store.WriteGuarded): the typed form.
func WriteGuarded(ctx context.Context, l *lock.Lock, items ...types.TransactWriteItem) error {
	return l.WriteGuarded(ctx, items)
}
