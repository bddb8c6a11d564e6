package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"
)

// defaultStoreTimeout bounds the commands that only read or write the
// store once or twice (ls, get, release, table describe): long enough for
// a large scan, short enough that a hung store is reported, not waited on.
const defaultStoreTimeout = 30 * time.Second

// timeoutFlag adds --timeout to such a command.
func timeoutFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("timeout", defaultStoreTimeout, "give up and exit 69 when the store has not answered within this `duration`")
}

// timeoutError is the cause of a context whose --timeout ran out.
type timeoutError struct{ d time.Duration }

func (t *timeoutError) Error() string { return fmt.Sprintf("timed out after %v", t.d) }

// withTimeout bounds the store requests made under the returned context.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, &timeoutError{d})
}

// timedOut replaces an error caused by ctx's --timeout with a plain
// statement (exit 69): the SDK's own text for it says little.
func timedOut(e *env, ctx context.Context, err error) error {
	var te *timeoutError
	if err == nil || !errors.As(context.Cause(ctx), &te) {
		return err
	}
	where := e.where
	if where == "" {
		where = "the store"
	}
	return &exitError{code: exitUnavailable, err: fmt.Errorf("%s did not answer within --timeout %v", where, te.d), hint: hintFailing}
}

// checkTimeout validates a --timeout value.
func checkTimeout(cmd string, d time.Duration) error {
	if d <= 0 {
		return usageErr(cmd, "--timeout must be positive")
	}
	return nil
}
