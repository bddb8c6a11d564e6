package pyinterop

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
	"github.com/leaselock/leaselock/lock"
)

func TestMain(m *testing.M) {
	if holderChild() {
		return
	}
	testservers.Main(m)
}

// Lease settings shared by both sides: short, so a test that waits out a
// lease stays quick, and a heartbeat period a sixth of the lease, so a busy
// machine does not lose a lease. The Python client polls a held key once
// per heartbeat period (its default retry_period).
const (
	lease     = 3 * time.Second
	heartbeat = 500 * time.Millisecond
	poll      = 100 * time.Millisecond
)

// onServers runs fn as a parallel subtest on each server.
var onServers = testservers.OnEach

// pythonFormat is the store options every test uses: the Python client's
// layout and defaults.
var pythonFormat = dynamostore.Options{Format: dynamostore.FormatPython}

// env is one test's table on one server.
type env struct {
	kind    testservers.Kind
	srv     *testservers.Server
	client  *dynamodb.Client
	counter *dynamostore.Counter // counts the leaselock side's requests
	store   *dynamostore.Store
	table   string
}

// newEnv checks the Python library is installed, starts (or reuses) the
// server and creates a fresh table with dynamostore's table management.
func newEnv(t *testing.T, kind testservers.Kind) *env {
	t.Helper()
	e := newEnvNoTable(t, kind)
	_, err := e.store.CreateTable(ctx(t), dynamostore.TableOptions{})
	require.NoError(t, err)
	e.counter.Reset()
	return e
}

// newEnvNoTable is newEnv for a table someone else creates.
func newEnvNoTable(t *testing.T, kind testservers.Kind) *env {
	t.Helper()
	python(t)
	e := &env{kind: kind, srv: testservers.Get(t, kind), counter: dynamostore.NewCounter(),
		table: testservers.TableName(t)}
	e.client = e.srv.Client(e.counter.Install)
	opts := pythonFormat
	var err error
	e.store, err = dynamostore.New(e.client, e.table, &opts)
	require.NoError(t, err)
	return e
}

// goClient returns a leaselock client on the table, closed at cleanup; it
// releases by deleting, as the format needs (the store says so:
// backend.ReleaseDeleter).
func (e *env) goClient(t *testing.T, owner string, extra ...lock.Option) *lock.Client {
	t.Helper()
	require.True(t, e.store.ReleaseByDelete())
	opts := append([]lock.Option{lock.WithOwner(owner), lock.WithLeaseDuration(lease),
		lock.WithHeartbeatPeriod(heartbeat), lock.WithPollPeriod(poll)}, extra...)
	c, err := lock.New(e.store, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, c.Close(cctx))
	})
	return c
}

// raw reads a lock item as the table holds it; sort "" is the Python
// client's "-".
func (e *env) raw(t *testing.T, key, sort string) map[string]types.AttributeValue {
	t.Helper()
	if sort == "" {
		sort = dynamostore.PythonNoSortKey
	}
	out, err := e.srv.Client().GetItem(ctx(t), &dynamodb.GetItemInput{
		TableName: aws.String(e.table),
		Key: map[string]types.AttributeValue{
			dynamostore.PythonPartitionKeyName: s(key), dynamostore.PythonSortKeyName: s(sort)},
		ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	return out.Item
}

// ctx is a per-test context that ends with the test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return c
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
