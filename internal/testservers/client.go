package testservers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// NewClient returns a DynamoDB client for a loopback endpoint: static fake
// credentials, region us-east-1, and its own HTTP client that ignores proxy
// settings.
//
// It deliberately avoids config.LoadDefaultConfig: that reads the
// environment and shared config files, and with AWS_CA_BUNDLE set (as on
// some CI machines) it fails as soon as a custom HTTP client is supplied.
// optFns run last and may replace anything, the HTTP client included.
func NewClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	opts := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLEASELOCKTEST", "leaselock-test-secret", ""),
		HTTPClient:   NewHTTPClient(),
	}
	return dynamodb.New(opts, optFns...)
}

// RequestTimeout bounds every HTTP request of NewHTTPClient, whatever
// context the caller passed: no request to a loopback server takes near
// that long, even on a loaded machine, and a test that forgot a deadline
// must not wait forever on a server that stopped answering. (The SDK
// retries a timed-out request a few times: still bounded.)
const RequestTimeout = time.Minute

// NewHTTPClient returns an HTTP client suited to a loopback server: no proxy,
// short dial timeout, enough idle connections for concurrent tests, and
// RequestTimeout.
func NewHTTPClient() *http.Client {
	return &http.Client{Timeout: RequestTimeout, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// Client returns NewClient(s.Endpoint, optFns...), whose calls end as soon
// as the server process exits, failing with an error that carries s.Err()
// (the server's last output) and matches context.Canceled.
//
// Without that a dead server looks like a network outage: the SDK retries
// a refused connection, the store reports it as unavailable, and a lock
// client waiting for a key retries unavailable stores for as long as its
// context lasts. A cancelled call is not retried by either, so a test
// waiting on a dead server ends within moments, saying why.
func (s *Server) Client(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return NewClient(s.Endpoint, append([]func(*dynamodb.Options){s.endCallsOnExit}, optFns...)...)
}

// endCallsOnExit adds the middleware that binds every call to the life of
// the server process (see Client).
func (s *Server) endCallsOnExit(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("testservers.EndCallsOnExit",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
				middleware.InitializeOutput, middleware.Metadata, error) {
				ctx, cancel := s.Watch(ctx)
				defer cancel()
				out, md, err := next.HandleInitialize(ctx, in)
				if err != nil && s.Err() != nil && errors.Is(context.Cause(ctx), ErrExited) {
					err = fmt.Errorf("%w\n%w", err, s.Err())
				}
				return out, md, err
			}), middleware.Before)
	})
}
