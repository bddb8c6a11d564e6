package dynamostore

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Retries returns a client option that configures the SDK's retryer the way
// leaselock wants it:
//
//   - the standard retryer with maxAttempts attempts in all (DynamoDB's SDK
//     default is 4) and exponential backoff with jitter from 25 ms, capped
//     at maxBackoff;
//   - throttling, 5xx, connection errors, and also
//     TransactionConflictException (a heartbeat that meets a guarded write
//     holding the lock item), are retried;
//   - no client-side retry quota: the SDK's token bucket would otherwise
//     fail requests locally, without sending them, during a burst of
//     throttling, and a heartbeat should rather keep trying until its
//     context ends.
//
// Retries only help within the caller's deadline: the engine bounds every
// store call with a context shorter than the lease, so keep
// maxAttempts*maxBackoff well below the heartbeat period. Use it as
//
//	dynamodb.NewFromConfig(cfg, dynamostore.Retries(4, time.Second))
//
// A retried conditional write whose first attempt was applied comes back as
// a conflict carrying the caller's own version; the engine resolves that.
func Retries(maxAttempts int, maxBackoff time.Duration) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			if maxAttempts > 0 {
				so.MaxAttempts = maxAttempts
			}
			if maxBackoff > 0 {
				so.MaxBackoff = maxBackoff
			}
			so.BaseDelay = 25 * time.Millisecond
			so.RateLimiter = ratelimit.None
			so.Retryables = append(so.Retryables, retry.RetryableErrorCode{
				Codes: map[string]struct{}{"TransactionConflictException": {}},
			})
		})
		o.RetryMaxAttempts = 0 // let the retryer above decide
	}
}
