package main

import (
	"context"
	"errors"
	"net"

	"github.com/aws/smithy-go"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/dynamostore"
)

// authCodes are DynamoDB's answers to bad or insufficient credentials.
var authCodes = map[string]bool{
	"AccessDeniedException":       true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"ExpiredTokenException":       true,
	"MissingAuthenticationToken":  true,
	"IncompleteSignature":         true,
}

// transientCodes are DynamoDB's answers that say "later", not "no".
var transientCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	"LimitExceededException":                 true,
	"InternalServerError":                    true,
	"ServiceUnavailable":                     true,
}

const (
	hintTableMissing = "Check the table name, region= (or AWS_REGION) and endpoint= in the store URL, and the AWS account " +
		"of the credentials. Create the table with 'leaselock table create' only if it exists nowhere yet: " +
		"a table made in the wrong region holds locks that nobody else sees."
	hintSchema      = "Make pk= and sk= in the store URL name the table's partition and sort keys ('leaselock table describe' shows them)."
	hintNoSuchHost  = "No such host: check endpoint= and region= in the store URL (a region that does not exist has no DynamoDB endpoint)."
	hintUnreachable = "Cannot reach DynamoDB: check endpoint= and region= in the store URL, and the network."
	hintFailing     = "The store is unreachable or failing; try again later."
)

// classify picks the exit code and hint for an error a command returned;
// e says where the store is, for messages that need it.
func classify(e *env, err error) *exitError {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee
	}
	var (
		apiErr  smithy.APIError
		dnsErr  *net.DNSError
		opErr   *net.OpError
		netErr  net.Error
		missing *tableMissingError
		schema  *schemaError
	)
	switch {
	case errors.As(err, &missing):
		return &exitError{exitConfig, err, hintTableMissing}
	case errors.Is(err, dynamostore.ErrTableNotFound):
		if e.where != "" {
			err = &wrapped{e.where + ": table not found", err}
		}
		return &exitError{exitConfig, err, hintTableMissing}
	case errors.As(err, &schema), errors.Is(err, dynamostore.ErrSchemaMismatch):
		return &exitError{exitConfig, err, hintSchema}
	case errors.Is(err, dynamostore.ErrUnsupported):
		return &exitError{exitConfig, err, "This server lacks an operation leaselock needs."}
	case errors.As(err, &apiErr) && authCodes[apiErr.ErrorCode()]:
		return &exitError{exitConfig, err, "Check the AWS credentials and their permissions on the table."}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &exitError{exitConfig, err, hintNoSuchHost}
	case errors.As(err, &dnsErr), errors.As(err, &opErr):
		return &exitError{exitUnavailable, err, hintUnreachable}
	case errors.Is(err, backend.ErrInvalid):
		return &exitError{exitUsage, err, ""}
	case unavailable(err), errors.As(err, &netErr):
		return &exitError{exitUnavailable, err, hintFailing}
	}
	return &exitError{exitSoftware, err, ""}
}

// unavailable reports a failure that says the store is unreachable, slow
// or overloaded, not that the request was wrong.
func unavailable(err error) bool {
	var apiErr smithy.APIError
	var status interface{ HTTPStatusCode() int }
	switch {
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, backend.ErrAmbiguous),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &apiErr) && (transientCodes[apiErr.ErrorCode()] || apiErr.ErrorFault() == smithy.FaultServer):
		return true
	case errors.As(err, &status) && status.HTTPStatusCode() >= 500:
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// wrapped is an error with a better message that keeps the original's
// identity for errors.Is and errors.As.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg + " (" + w.err.Error() + ")" }
func (w *wrapped) Unwrap() error { return w.err }

// brief is the heart of a store failure for a progress line: the network
// error or DynamoDB's error code, without the SDK's wrapping.
func brief(err error) string {
	var (
		opErr  *net.OpError
		apiErr smithy.APIError
		netErr net.Error
	)
	switch {
	case errors.As(err, &opErr):
		return opErr.Error()
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
	case errors.As(err, &netErr) && netErr.Timeout():
		return "no answer within the request timeout"
	}
	return clipMessage(err.Error())
}
