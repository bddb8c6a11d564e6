#!/usr/bin/env bash
# test.sh is the whole test suite, from a fresh clone: it installs the test
# servers (dynalite from npm, moto from PyPI, PostgreSQL from Debian's
# packages when missing), checks formatting and vet,
# then runs every Go test with the race detector. The Go tests start the
# servers themselves on free loopback ports; LEASELOCK_REQUIRE_SERVERS makes
# a missing server a failure instead of a skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> installing test servers and the Java interop driver"
scripts/install-test-servers.sh
scripts/install-java-interop.sh
scripts/install-shells.sh # zsh and fish, for the CLI's completion tests
scripts/install-postgres.sh

echo "==> gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go') 2>&1 || true)"
if [ -n "$unformatted" ]; then
	echo "gofmt needed:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "==> go vet"
go vet ./...

echo "==> staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Nested modules keep dependencies that only they need out of the library's
# go.mod: each is vetted, checked and tested on its own. DynamoDB Local runs
# only where a Docker engine exists (its licence forbids fetching it
# otherwise); without one its test says why it skips.
export LEASELOCK_REQUIRE_SERVERS=1
export GORACE="${GORACE:-atexit_sleep_ms=0}" # race-built helper processes exit at once
nested() {
	local dir="$1" what="$2"
	shift 2
	echo "==> nested module $dir ($what)"
	(cd "$dir" && go vet ./... && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./... &&
		go test -race -count=1 -timeout 10m "$@" ./...)
}
nested internal/dynamodblocal "DynamoDB Local via testcontainers" "$@"
nested otelock "OpenTelemetry instrumentation; its tests use the test servers" "$@"
nested benchmarks "the race against dynamolock and the raw SDK, run briefly" "$@"
nested pgstore "PostgreSQL; its tests start a private cluster with initdb and pg_ctl" "$@"
nested cmd/leaselock "the CLI, with OTLP export and every store; end to end on the test servers" "$@"

echo "==> go test -race"
go test -race -count=1 -timeout 25m "$@" ./...

