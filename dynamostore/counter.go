package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// Counter counts the HTTP requests a DynamoDB client sends, per operation
// name ("GetItem", "UpdateItem", ...). Retries count as requests: it sits
// after the SDK's retry loop. Install it on a client:
//
//	counter := dynamostore.NewCounter()
//	client := dynamodb.NewFromConfig(cfg, counter.Install)
//
// It is safe for concurrent use.
type Counter struct {
	mu     sync.Mutex
	counts map[string]int64
}

// NewCounter returns a counter at zero.
func NewCounter() *Counter { return &Counter{counts: map[string]int64{}} }

// Install adds the counter to a client's middleware; pass it to
// dynamodb.NewFromConfig or dynamodb.New, or call it from an option func.
func (c *Counter) Install(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, c.middleware)
}

func (c *Counter) middleware(stack *middleware.Stack) error {
	id := fmt.Sprintf("leaselock.RequestCounter.%p", c)
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc(id, func(
		ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler,
	) (middleware.FinalizeOutput, middleware.Metadata, error) {
		op := awsmiddleware.GetOperationName(ctx)
		c.mu.Lock()
		c.counts[op]++
		c.mu.Unlock()
		return next.HandleFinalize(ctx, in)
	}), middleware.After)
}

// Count returns the requests sent for one operation.
func (c *Counter) Count(op string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// Total returns all requests sent.
func (c *Counter) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Counts returns a copy of the per-operation counts.
func (c *Counter) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Reset sets every count to zero.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.counts)
}
