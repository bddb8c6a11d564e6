package dynamostore

import (
	"context"
	"errors"
	"net/http/httptrace"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// tracker watches the attempts of one SDK call, to tell a write that was
// certainly not applied (nothing reached the server, or the server refused
// it with a 4xx) from one that may have been (the request was written and
// then the connection failed, or the server answered 5xx).
//
// The SDK retries by itself, so the call's final error says little: an
// attempt may have been applied before a retry failed to connect.
type tracker struct {
	installed atomic.Bool // the middleware is on the call's stack
	maybe     atomic.Bool // some attempt may have been applied
}

const trackerID = "leaselock.AttemptTracker"

// option installs the tracker on one call. It adds itself at the end of the
// Finalize step, after the retry loop, so it sees every attempt, and uses
// httptrace to learn whether the request was written to the connection.
func (tr *tracker) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		// On the stack: every request this call sends passes through
		// handle, so no run of handle means nothing was sent.
		tr.installed.Store(true)
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc(trackerID, tr.handle), middleware.After)
	})
}

func (tr *tracker) handle(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	out, md, err := next.HandleFinalize(ctx, in)
	if err != nil && wrote.Load() && !refused(err) {
		tr.maybe.Store(true)
	}
	return out, md, err
}

// refused reports an answer in which the server said it did not apply the
// request: any 4xx.
func refused(err error) bool {
	var sc interface{ HTTPStatusCode() int }
	if errors.As(err, &sc) {
		code := sc.HTTPStatusCode()
		return code >= 400 && code < 500
	}
	return false
}

// mayHaveApplied reports whether a failed write might have been applied.
func (tr *tracker) mayHaveApplied(err error, isAPI bool) bool {
	if tr != nil && tr.installed.Load() {
		return tr.maybe.Load()
	}
	// No view of the attempts (the API is not an SDK client, or the call
	// failed before any attempt): judge by the final error alone. Only a
	// 4xx answer proves nothing was applied.
	if isAPI && refused(err) {
		return false
	}
	var sc interface{ HTTPStatusCode() int }
	if isAPI && !errors.As(err, &sc) {
		return false // an API error without a transport: a fake or a local refusal
	}
	return true
}

func contextError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}
