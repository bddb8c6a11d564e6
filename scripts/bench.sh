#!/usr/bin/env bash
# bench.sh races leaselock, cirello.io/dynamolock/v2 and a raw aws-sdk-go-v2
# floor on one dynalite server, and writes docs/benchmarks/results.json and
# the charts docs/benchmarks.md shows. The full run takes about four
# minutes; arguments go to the command (benchmarks/cmd/race), e.g.
#
#   scripts/bench.sh -quick                      # every scenario briefly
#   scripts/bench.sh -scenarios contention       # one scenario
#   scripts/bench.sh -heartbeat 300ms/1s:1000    # other heartbeat cases
#   scripts/bench.sh -out /tmp/bench             # leave docs/ alone
#
# The benchmarks are a nested module (benchmarks/go.mod), so dynamolock and
# the chart fonts stay out of the library's go.mod. All traffic stays on
# loopback; dynalite is started on a free port and stopped at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-test-servers.sh
exec go -C benchmarks run ./cmd/race "$@"
