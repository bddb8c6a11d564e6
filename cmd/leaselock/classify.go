package main

import (
	"context"
	"errors"
	"net"

	"github.com/leaselock/leaselock/backend"
)

const hintFailing = "The store is unreachable or failing; try again later."

// classify picks the exit code and hint for an error a command returned;
// e says where the store is, for messages that need it. Each backend
// reads its own errors first (their types tell them apart); what none
// claims is judged by the error kinds every store shares.
func classify(e *env, err error) *exitError {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee
	}
	if ee := classifyPostgres(err); ee != nil {
		return ee
	}
	if ee := classifyDynamo(e, err); ee != nil {
		return ee
	}
	var netErr net.Error
	switch {
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
	var status interface{ HTTPStatusCode() int }
	switch {
	case errors.Is(err, backend.ErrUnavailable), errors.Is(err, backend.ErrAmbiguous),
		errors.Is(err, context.DeadlineExceeded):
		return true
	case dynamoTransient(err):
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
// error or the store's own error code, without the client's wrapping.
func brief(err error) string {
	var (
		opErr  *net.OpError
		netErr net.Error
	)
	if errors.As(err, &opErr) {
		return opErr.Error()
	}
	if b := dynamoBrief(err); b != "" {
		return b
	}
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "no answer within the request timeout"
	}
	return clipMessage(err.Error())
}
