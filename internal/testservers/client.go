package testservers

import (
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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

// NewHTTPClient returns an HTTP client suited to a loopback server: no proxy,
// short dial timeout, enough idle connections for concurrent tests.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// Client returns NewClient(s.Endpoint, optFns...).
func (s *Server) Client(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return NewClient(s.Endpoint, optFns...)
}
