package race

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leaselock/leaselock/dynamostore"
	"github.com/leaselock/leaselock/internal/testservers"
)

// Contender is one lock library under test, as one client of one table.
type Contender interface {
	// Acquire blocks until it holds key or ctx ends; a held key is polled
	// every Settings.Poll and taken over once its holder is seen dead.
	Acquire(ctx context.Context, key string) (Held, error)
	// TryAcquire fails at once with an error matching ErrBusy when
	// another owner holds key.
	TryAcquire(ctx context.Context, key string) (Held, error)
	// Close releases what is still held and stops background work.
	Close(ctx context.Context) error
}

// Held is one held lock.
type Held interface {
	Heartbeat(ctx context.Context) error
	Release(ctx context.Context) error
	// Lost reports whether the library has told its user, at any moment
	// since the acquisition, that this lock is lost.
	Lost() bool
}

// ErrBusy: TryAcquire found the key held.
var ErrBusy = errors.New("race: key held by another owner")

// Settings configure one Contender.
type Settings struct {
	DB    *dynamodb.Client
	Table string
	Owner string
	Lease time.Duration
	// Heartbeat is the period of background heartbeats.
	Heartbeat time.Duration
	// Poll is how often a waiting Acquire looks at a held key.
	Poll time.Duration
}

// Kind names a contender and builds it.
type Kind struct {
	Name string // as results and charts show it
	ID   string // short, for table names
	New  func(Settings) (Contender, error)
}

// Names of the contenders, as they appear in results and charts.
const (
	Leaselock  = "leaselock"
	Dynamolock = "dynamolock"
	Floor      = "raw SDK floor"
)

// Kinds lists the contenders in the order results show them.
var Kinds = []Kind{
	{Leaselock, "leaselock", newLeaselock},
	{Dynamolock, "dynamolock", newDynamolock},
	{Floor, "floor", newFloor},
}

// client returns a DynamoDB client of srv whose requests go through
// counter. Every contender gets the same SDK defaults (retryer included):
// only the lock library differs.
func client(srv *testservers.Server, counter *Counter) *dynamodb.Client {
	return srv.Client(func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Timeout: testservers.RequestTimeout, Transport: counter}
	})
}

// newCounter returns a Counter over a fresh loopback transport.
func newCounter() *Counter {
	return NewCounter(testservers.NewHTTPClient().Transport)
}

// createTable makes a table with the layout all three contenders use:
// partition key "key" of type S, on demand.
func createTable(ctx context.Context, db *dynamodb.Client, table string) error {
	st, err := dynamostore.New(db, table, nil)
	if err != nil {
		return err
	}
	_, err = st.CreateTable(ctx, dynamostore.TableOptions{WaitTimeout: time.Minute})
	return err
}
