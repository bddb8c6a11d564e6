package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/leaselock/leaselock/backend"
)

// storeEnv names the environment variable that supplies --store.
const storeEnv = "LEASELOCK_STORE"

// storeURLHelp spells the store URLs, one per backend.
const storeURLHelp = dynamoURLHelp + " or " + postgresURLHelp

// storeSpec is a parsed and validated store URL. Its scheme picks the
// backend, and each backend has its own spec type in a file of its own
// (store_dynamo.go, store_postgres.go); the commands are written once,
// against storeSpec and store.
type storeSpec interface {
	// keyRules are the lock keys the store takes, checked at the edge.
	keyRules() keyRules
	// open makes a client for the store and sets e.where. It sends no
	// request: the first is check's, which run and hold retry while the
	// store is unreachable. attempt bounds each attempt of a request.
	open(ctx context.Context, e *env, attempt time.Duration) (store, error)
	// createTable is 'table create': it creates the lock table and says
	// what it did on e.stdout.
	createTable(ctx context.Context, e *env, f tableCreateFlags) error
	// describeTable reads what 'table describe' shows; a missing table is
	// an error.
	describeTable(ctx context.Context, e *env) (tableInfo, error)
}

// store is an opened store: what the engine needs, listing, and what the
// commands need around them.
type store interface {
	backend.Store
	backend.Lister
	// check makes sure the table exists with the layout the store URL
	// describes.
	check(ctx context.Context) error
	// where names the store in messages: table and server, so a wrong one
	// is visible at once; never a password.
	where() string
	// close lets go of the store's connections.
	close()
}

// tableInfo is what 'table describe' shows, as text or (encoded as it
// is) JSON.
type tableInfo interface {
	print(w io.Writer)
	// mismatch is the error to exit with when the table does not match the
	// store URL, nil when it does.
	mismatch() error
}

// storeFlag adds --store to fs; resolve it with resolveStoreURL.
func storeFlag(fs *flag.FlagSet) *string {
	return fs.String("store", "", "store `URL`: "+storeURLHelp+" (default $"+storeEnv+")")
}

// attemptTimeout bounds one attempt of a store request for the commands
// that do not heartbeat; run and hold derive theirs from the heartbeat
// period. A store that accepts connections but never answers then fails
// the attempt, which is retried on a new connection, instead of waiting
// forever.
const attemptTimeout = 5 * time.Second

// resolveStoreURL returns the store URL from the flag, else from the
// environment, parsed.
func resolveStoreURL(e *env, cmd, flagValue string) (storeSpec, error) {
	raw := flagValue
	if raw == "" {
		raw = e.getenv(storeEnv)
	}
	if raw == "" {
		return nil, usageErr(cmd, "no store: pass --store %s or set %s", storeURLHelp, storeEnv)
	}
	spec, err := parseStoreURL(raw)
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return nil, err // not the URL's fault: a file it names
	case err != nil:
		return nil, usageErr(cmd, "%v", err)
	}
	return spec, nil
}

// parseStoreURL parses a store URL of any backend. The scheme is read
// before anything else, so that a URL of one backend is never judged by
// another's rules.
func parseStoreURL(raw string) (storeSpec, error) {
	scheme, _, _ := strings.Cut(raw, ":")
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return parsePostgresURL(raw)
	case "dynamodb":
		return parseDynamoURL(raw)
	}
	return nil, fmt.Errorf("bad store URL %s: the scheme must be dynamodb:// or postgres:// (%s)",
		shown(maskPassword(raw), msgWidth), storeURLHelp)
}

// openStore opens the store spec names.
func openStore(ctx context.Context, e *env, spec storeSpec, attempt time.Duration) (store, error) {
	return spec.open(ctx, e, attempt)
}

// openChecked opens the store and checks its table.
func openChecked(ctx context.Context, e *env, spec storeSpec) (store, error) {
	st, err := openStore(ctx, e, spec, attemptTimeout)
	if err != nil {
		return nil, err
	}
	if err := st.check(ctx); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// releasesByDelete reports whether st must release by deleting the record
// (backend.ReleaseDeleter).
func releasesByDelete(st store) bool {
	rd, ok := st.(backend.ReleaseDeleter)
	return ok && rd.ReleaseByDelete()
}
