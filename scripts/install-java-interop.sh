#!/usr/bin/env bash
# install-java-interop.sh builds the driver for Amazon's Java lock client
# (internal/javainterop/java, a Maven project) that the tests in internal/javainterop run:
#
#   internal/javainterop/java/target/leaselock-java-interop.jar   the driver
#   internal/javainterop/java/target/lib/                         its dependencies, named by the jar's manifest
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

script=install-java-interop
# shellcheck source=lib/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/install.sh"
project="$root/internal/javainterop/java"
jar="$project/target/leaselock-java-interop.jar"

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
