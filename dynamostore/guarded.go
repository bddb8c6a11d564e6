package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
)

// GuardCheck returns the condition check that a guarded write adds to its
// transaction: it holds while g's acquisition still holds the lock (same
// owner and fencing token, not released). Put it into your own
// TransactWriteItems call to make any transaction conditional on the lock
// (etcd's IsOwner), e.g. together with items on other tables:
//
//	items = append(items, store.GuardCheck(l.Guard()))
//
// A transaction canceled with this item's reason ConditionalCheckFailed
// means the lock is no longer held; nothing was written. WriteGuarded does
// this for you and tells the lock.
func (s *Store) GuardCheck(g backend.Guard) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:           aws.String(s.table),
		Key:                 s.keyItem(g.Key),
		ConditionExpression: aws.String("#o = :o AND #f = :f AND attribute_not_exists(#r)"),
		ExpressionAttributeNames: map[string]string{
			"#o": s.f.owner, "#f": s.f.token, "#r": s.f.released,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o": &types.AttributeValueMemberS{Value: g.Owner},
			":f": tokenValue(g.Token),
		},
	}}
}

// MaxGuardedOps is the most application items one guarded write may hold:
// DynamoDB's 100 items per transaction, less the lock check.
const MaxGuardedOps = 99

// WriteGuarded implements backend.GuardedWriter. ops must be a
// []types.TransactWriteItem (any mix of Put, Update, Delete and
// ConditionCheck, on any tables except the lock item itself). They run in
// one TransactWriteItems together with a ConditionCheck on the lock item:
//
//	ownerName = g.Owner AND fencingToken = g.Token AND attribute_not_exists(isReleased)
//
// so they commit only while that acquisition still holds the lock;
// heartbeats (which change the version but not the token) do not disturb it.
//
// When the lock check fails the error errors.Is backend.ErrGuardFailed and
// nothing was written. When an application item fails instead, the error
// is a *TransactionError carrying the cancellation reasons. The SDK gives
// the transaction an idempotency token, so its own retries after a lost
// response cannot apply it twice; a transport failure after sending is
// still a *backend.AmbiguousError. Servers without transactions (dynalite)
// give an error that errors.Is ErrUnsupported.
func (s *Store) WriteGuarded(ctx context.Context, g backend.Guard, ops any) error {
	items, ok := ops.([]types.TransactWriteItem)
	if !ok {
		return fmt.Errorf("dynamostore: %w: guarded ops must be []types.TransactWriteItem, got %T", backend.ErrInvalid, ops)
	}
	if len(items) > MaxGuardedOps {
		return fmt.Errorf("dynamostore: %w: %d guarded ops, at most %d fit in one transaction with the lock check",
			backend.ErrInvalid, len(items), MaxGuardedOps)
	}
	if err := s.checkKey(g.Key); err != nil {
		return err
	}
	all := make([]types.TransactWriteItem, len(items)+1)
	copy(all, items)
	check := len(items)
	all[check] = s.GuardCheck(g)

	guardFailed := fmt.Errorf("dynamostore: guarded write on %q (owner %q, token %d): %w",
		g.Key, g.Owner, g.Token, backend.ErrGuardFailed)
	return s.lockTransaction(ctx, "guarded write on", g.Key, all, check,
		func(map[string]types.AttributeValue, *tracker) error { return guardFailed },
		func(cur *backend.Record) error {
			if cur == nil || cur.Released || cur.Owner != g.Owner || cur.Token != g.Token {
				return guardFailed
			}
			return nil
		})
}

// lockTransaction runs all in one TransactWriteItems, the lock's own item
// at index lock and the application's items around it. When the server
// cancels it for the lock item, refused makes the error from the item it
// returned (nil when it returned none). When the server gives no usable
// reasons the lock is read, and judge says from the current record (nil:
// absent) whether the lock item was the one refused (its error) or not
// (nil: an application item was). Any other cancellation is a
// *TransactionError; a transport failure is classified as for any write.
func (s *Store) lockTransaction(ctx context.Context, op string, key backend.Key, all []types.TransactWriteItem, lock int,
	refused func(item map[string]types.AttributeValue, tr *tracker) error, judge func(cur *backend.Record) error,
) error {
	tr := new(tracker)
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: all}, tr.option)
	if err == nil {
		return nil
	}
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) && errorCode(err) != codeTransactionCanceled {
		return s.classify(err, op, key, true, tr)
	}
	var reasons []types.CancellationReason
	if canceled != nil {
		reasons = canceled.CancellationReasons
	}
	if len(reasons) == len(all) {
		if deref(reasons[lock].Code) == "ConditionalCheckFailed" {
			return refused(reasons[lock].Item, tr)
		}
		return &TransactionError{Reasons: reasons, Err: err}
	}
	cur, gerr := s.Get(ctx, key)
	var curp *backend.Record
	switch {
	case errors.Is(gerr, backend.ErrNotFound):
	case gerr != nil:
		return fmt.Errorf("dynamostore: %s %q canceled; reading the lock failed: %w", op, key, errors.Join(err, gerr))
	default:
		curp = &cur
	}
	if jerr := judge(curp); jerr != nil {
		return jerr
	}
	return &TransactionError{Reasons: reasons, Err: err}
}
