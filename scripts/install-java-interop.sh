#!/usr/bin/env bash
# install-java-interop.sh builds the driver for Amazon's Java lock client
# (interop/java, a Maven project) that the tests in internal/javainterop run:
#
#   interop/java/target/leaselock-java-interop.jar   the driver
#   interop/java/target/lib/                         its dependencies, named by the jar's manifest
#
# It is idempotent: when the jar is newer than pom.xml and every source file,
# it does nothing (well under a second). It uses the machine's java (17 or
# newer) and mvn; Maven fetches the pinned artifacts into its local
# repository on the first build, and the tests themselves need no network.
# It reads no standard input and prints nothing on success; on failure it
# prints Maven's output and exits non-zero.
#
# Options: --force rebuilds even when the jar is up to date.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$root/interop/java"
jar="$project/target/leaselock-java-interop.jar"
force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	*)
		echo "usage: $0 [--force]" >&2
		exit 2
		;;
	esac
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

fail() {
	echo "install-java-interop: $1" >&2
	if [ -s "$log" ]; then
		echo "--- output ---" >&2
		sed 's/\x1b\[[0-9;]*m//g' "$log" >&2 # Maven colours some lines even in batch mode
	fi
	exit 1
}

up_to_date() {
	[ -f "$jar" ] && [ -f "$project/target/lib/dynamodb-lock-client-1.4.0.jar" ] || return 1
	# Anything in the project newer than the jar means a rebuild.
	[ -z "$(find "$project/pom.xml" "$project/src" -newer "$jar" -print -quit)" ]
}

if [ "$force" = 0 ] && up_to_date; then
	exit 0
fi

command -v java >/dev/null 2>&1 || fail "java not found on PATH (a JDK 17 or newer is needed)"
command -v mvn >/dev/null 2>&1 || fail "mvn not found on PATH (Maven 3.8 or newer is needed)"
java_version="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
case "$java_version" in
1.* | [0-9] | 1[0-6] | "") fail "java $java_version found; the driver needs Java 17 or newer" ;;
esac

if ! mvn -q -B -Dstyle.color=never -f "$project/pom.xml" package >"$log" 2>&1; then
	fail "mvn package failed in $project"
fi
[ -f "$jar" ] || fail "mvn succeeded but $jar is missing"
