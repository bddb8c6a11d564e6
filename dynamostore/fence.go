package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
)

// FencingCounterItem: fencing tokens that survive other clients.
//
// A client of another language acquires with a PutItem of the whole item
// and releases by deleting it, and the Python client knows no released
// marker, so leaselock must delete too: a counter kept on the lock item
// restarts at every release. The counter therefore lives in an item of its
// own beside the lock, which only leaselock writes, and an acquisition is
// three requests:
//
//  1. the conditional UpdateItem of the lock item, as always, with the
//     item's token removed (it is unknown yet);
//  2. ADD 1 to the counter item, returning the new count n;
//  3. SET the lock item's token to n, on condition that it still carries
//     the version written in step 1.
//
// Why the order: step 3's condition proves that the version of step 1 was
// on the lock item from step 1 until after the counter moved to n. Each
// acquisition's step 2 thus falls inside its own tenure of the lock item,
// tenures do not overlap, so counts are drawn in the order of tenures:
// every token is larger than the token of every earlier holder, whoever
// held the key in between. Only winners draw (step 1 comes first), so an
// uncontended counter advances by one per acquisition. A retried step 2
// may draw twice; a token may then skip a number, never repeat.
//
// A failure after step 1 (a step that could not be sent or whose answer was
// lost) must not leave a lease the engine could adopt without its token: the
// store deletes the lock item again, conditionally on its version, and
// reports the acquisition as not applied. Only when that delete fails too is
// the outcome ambiguous; the engine then reads the record back, and if it
// adopts it, the lock has token 0 (no token: below every real one, and a
// guarded write cannot match it).

// undoTimeout bounds the delete that hands back a lease whose token could
// not be written; it runs even when the caller's context has ended.
const undoTimeout = 5 * time.Second

// acquireFenced is Acquire with the counter item (see above).
func (s *Store) acquireFenced(ctx context.Context, req backend.AcquireRequest) (backend.Acquired, error) {
	rec := req.Record
	got, err := s.acquireItem(ctx, req, false)
	var ce *backend.ConflictError
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Current != nil && ce.Current.Version == rec.Version:
		// The SDK retried our write after a lost answer: it landed. What it
		// replaced is unknown.
		got = backend.Acquired{Record: *ce.Current}
	case errors.Is(err, backend.ErrAmbiguous):
		// Resolve it here, so the token is still written if it landed.
		cur, gerr := s.Get(ctx, rec.Key)
		if gerr != nil || cur.Version != rec.Version {
			return backend.Acquired{}, err
		}
		got = backend.Acquired{Record: cur}
	default:
		return backend.Acquired{}, err
	}

	n, err := s.drawToken(ctx, rec.Key)
	if err != nil {
		return backend.Acquired{}, s.undoAcquire(ctx, rec.Key, rec.Version, err)
	}
	stored, err := s.writeToken(ctx, rec.Key, rec.Version, n)
	if err != nil {
		if errors.As(err, &ce) && (ce.Current == nil || ce.Current.Version != rec.Version) {
			return backend.Acquired{}, err // taken over between the steps: a plain conflict
		}
		return backend.Acquired{}, s.undoAcquire(ctx, rec.Key, rec.Version, err)
	}
	got.Record = stored
	return got, nil
}

// drawToken adds 1 to key's counter item and returns the new count.
func (s *Store) drawToken(ctx context.Context, key backend.Key) (uint64, error) {
	tr := new(tracker)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       s.fenceKeyItem(key),
		UpdateExpression:          aws.String("ADD #f :inc"),
		ExpressionAttributeNames:  map[string]string{"#f": s.f.token},
		ExpressionAttributeValues: map[string]types.AttributeValue{":inc": &types.AttributeValueMemberN{Value: "1"}},
		ReturnValues:              types.ReturnValueUpdatedNew,
	}, tr.option)
	if err != nil {
		return 0, s.classify(err, "draw a fencing token for", key, true, tr)
	}
	nv, ok := out.Attributes[s.f.token].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("dynamostore: counter item of %q: the server returned no count", key)
	}
	n, err := strconv.ParseUint(nv.Value, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("dynamostore: counter item of %q holds a malformed count %q", key, nv.Value)
	}
	return n, nil
}

// writeToken sets the lock item's token to n if the item still carries
// version, and returns the record as stored.
func (s *Store) writeToken(ctx context.Context, key backend.Key, version string, n uint64) (backend.Record, error) {
	tr := new(tracker)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.keyItem(key),
		UpdateExpression:                    aws.String("SET #f = :n"),
		ConditionExpression:                 aws.String("#v = :v"),
		ExpressionAttributeNames:            map[string]string{"#f": s.f.token, "#v": s.f.version},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":n": tokenValue(n), ":v": &types.AttributeValueMemberS{Value: version}},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, tr.option)
	if err != nil {
		if item, ok := conditionFailed(err); ok {
			cerr := s.conflict(ctx, key, item, false, tr)
			var ce *backend.ConflictError
			if errors.As(cerr, &ce) && ce.Current != nil && ce.Current.Version == version && ce.Current.Token == n {
				return *ce.Current, nil // a retry of ours, refused because the first attempt landed
			}
			return backend.Record{}, cerr
		}
		return backend.Record{}, s.classify(err, "write the fencing token of", key, true, tr)
	}
	return s.decode(out.Attributes)
}

// undoAcquire deletes the lock item written at version, whose token could
// not be written, and says what the caller holds: nothing (ErrUnavailable)
// once the item is gone or someone else's, otherwise an ambiguous outcome.
func (s *Store) undoAcquire(ctx context.Context, key backend.Key, version string, cause error) error {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	err := s.Delete(uctx, key, version)
	var ce *backend.ConflictError
	if err == nil || (errors.As(err, &ce) && (ce.Current == nil || ce.Current.Version != version)) {
		return fmt.Errorf("dynamostore: acquire %q: no fencing token could be drawn, so the lease was handed back: %w: %w",
			key, backend.ErrUnavailable, cause)
	}
	return &backend.AmbiguousError{Err: fmt.Errorf(
		"dynamostore: acquire %q: no fencing token could be drawn, and handing the lease back failed: %w",
		key, errors.Join(cause, err))}
}

// fenceKeyItem is the primary key of key's counter item: the lock's key
// with FenceSuffix on the sort key, or on the partition key in a table
// without one.
func (s *Store) fenceKeyItem(k backend.Key) map[string]types.AttributeValue {
	m := make(map[string]types.AttributeValue, 2)
	if s.opts.SortKeyName == "" {
		m[s.opts.PartitionKeyName] = &types.AttributeValueMemberS{Value: k.Partition + FenceSuffix}
		return m
	}
	m[s.opts.PartitionKeyName] = &types.AttributeValueMemberS{Value: k.Partition}
	m[s.opts.SortKeyName] = &types.AttributeValueMemberS{Value: s.f.storedSort(k.Sort) + FenceSuffix}
	return m
}

// checkFenceKey refuses, while counter items are on, lock keys that would be
// a counter item's, or whose counter item's key would be too long.
func (s *Store) checkFenceKey(k backend.Key) error {
	if s.opts.Fencing != FencingCounterItem {
		return nil
	}
	part, limit := k.Partition, MaxPartitionKeyBytes
	if s.opts.SortKeyName != "" {
		part, limit = s.f.storedSort(k.Sort), MaxSortKeyBytes
	}
	switch {
	case strings.HasSuffix(part, FenceSuffix):
		return fmt.Errorf("dynamostore: %w: key %q ends with %q, which names fencing counter items",
			backend.ErrInvalidKey, k, FenceSuffix)
	case len(part)+len(FenceSuffix) > limit:
		return fmt.Errorf("dynamostore: %w: key %q: with counter items (FencingCounterItem) a %s key has at most %d bytes",
			backend.ErrInvalidKey, k, map[bool]string{true: "sort", false: "partition"}[s.opts.SortKeyName != ""],
			limit-len(FenceSuffix))
	}
	return nil
}
