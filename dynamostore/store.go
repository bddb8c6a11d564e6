package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leaselock/leaselock/backend"
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client
// satisfies it. Per-call option functions are how the store watches its
// requests' attempts; an API that ignores them still works, judging
// ambiguity from the final error alone.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Store is a backend.Store on one DynamoDB table. It is safe for concurrent
// use and holds no state beyond what it learned about the server (see
// ConflictReads).
type Store struct {
	api   API
	table string
	opts  Options
	f     *itemFormat // the item layout, from opts.Format

	// returnsItem records what the server showed about
	// ReturnValuesOnConditionCheckFailure: 0 unknown, 1 it returns the
	// item, 2 it ignores the parameter.
	returnsItem atomic.Int32
}

const (
	serverUnknown int32 = iota
	serverReturnsItem
	serverOmitsItem
)

var (
	_ backend.Store          = (*Store)(nil)
	_ backend.Lister         = (*Store)(nil)
	_ backend.GuardedWriter  = (*Store)(nil)
	_ backend.ReleaseDeleter = (*Store)(nil)
)

// New returns a store on table, accessed through client (usually a
// *dynamodb.Client). opts may be nil. It sends no request; see AssertTable
// to check the table, CreateTable to make it.
func New(client API, table string, opts *Options) (*Store, error) {
	if client == nil {
		return nil, &OptionsError{"client", "nil"}
	}
	if len(table) < 3 || len(table) > 255 || !validTableName(table) {
		return nil, &OptionsError{"table", fmt.Sprintf("%q is not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ - .)", table)}
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f, _ := formatOf(o.Format) // checked by withDefaults
	return &Store{api: client, table: table, opts: o, f: f}, nil
}

func validTableName(name string) bool {
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// Options returns the store's options with defaults filled in.
func (s *Store) Options() Options { return s.opts }

// Get implements backend.Store with one strongly consistent GetItem.
func (s *Store) Get(ctx context.Context, key backend.Key) (backend.Record, error) {
	if err := s.checkKey(key); err != nil {
		return backend.Record{}, err
	}
	item, err := s.getItem(ctx, key)
	if err != nil {
		return backend.Record{}, err
	}
	if len(item) == 0 {
		return backend.Record{}, fmt.Errorf("dynamostore: %q: %w", key, backend.ErrNotFound)
	}
	return s.decode(item)
}

func (s *Store) getItem(ctx context.Context, key backend.Key) (map[string]types.AttributeValue, error) {
	tr := new(tracker)
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.keyItem(key),
		ConsistentRead: aws.Bool(true),
	}, tr.option)
	if err != nil {
		return nil, s.classify(err, "get", key, false, tr)
	}
	return out.Item, nil
}

// conflict builds the *backend.ConflictError for a refused write from the
// item the server returned with it, reading the record only when the server
// may have left it out. mustExist says the refused condition could only
// fail on an existing item, so an empty answer proves the server omits it.
// tr says whether an earlier attempt of the same call may have been applied
// (the SDK retried after a lost answer): the conflict then says so.
func (s *Store) conflict(ctx context.Context, key backend.Key, item map[string]types.AttributeValue, mustExist bool, tr *tracker) error {
	ce, err := s.current(ctx, key, item, mustExist)
	if err != nil {
		return err
	}
	ce.MaybeApplied = tr.maybe.Load()
	return ce
}

// current finds the record a refused write met: the item the server
// returned, or, where the server may omit it, a read.
func (s *Store) current(ctx context.Context, key backend.Key, item map[string]types.AttributeValue, mustExist bool) (*backend.ConflictError, error) {
	if len(item) > 0 {
		s.returnsItem.CompareAndSwap(serverUnknown, serverReturnsItem)
		cur, err := s.decode(item)
		if err != nil {
			return nil, err
		}
		return &backend.ConflictError{Key: key, Current: &cur}, nil
	}
	if mustExist {
		s.returnsItem.Store(serverOmitsItem)
	}
	read := false
	switch s.opts.ConflictReads {
	case ConflictReadsAlways:
		read = true
	case ConflictReadsAuto:
		read = s.returnsItem.Load() != serverReturnsItem
	}
	if !read {
		return &backend.ConflictError{Key: key}, nil
	}
	item, err := s.getItem(ctx, key)
	if err != nil {
		// The write was refused, but it may have been refused because an
		// earlier attempt of it was applied (the SDK retries lost
		// responses): without the current record that is unknowable.
		return nil, &backend.AmbiguousError{Err: fmt.Errorf(
			"dynamostore: write to %q refused and reading the current record failed: %w", key, err)}
	}
	if len(item) == 0 {
		return &backend.ConflictError{Key: key}, nil
	}
	cur, err := s.decode(item)
	if err != nil {
		return nil, err
	}
	return &backend.ConflictError{Key: key, Current: &cur}, nil
}

// conditionFailed returns the item carried by a ConditionalCheckFailed
// error, and whether err is one.
func conditionFailed(err error) (map[string]types.AttributeValue, bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	if errorCode(err) == codeConditionalCheckFailed {
		return nil, true
	}
	return nil, false
}
