#!/usr/bin/env bash
# install-postgres.sh makes sure PostgreSQL's server binaries (initdb,
# pg_ctl) are present for the pgstore tests, which start their own private
# cluster on a loopback port. When initdb is neither on PATH nor under
# /usr/lib/postgresql/*/bin and we run as root with apt-get, it installs
# Debian's postgresql package. Idempotent: with the binaries present it
# does nothing. It reads no standard input and prints nothing on success;
# on failure it prints the apt-get log and exits non-zero. Without root (or
# apt-get) it leaves the machine alone: the tests then skip, or fail under
# LEASELOCK_REQUIRE_SERVERS=1, and say why.
set -euo pipefail

script=install-postgres
# shellcheck source=lib/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/install.sh"

have_initdb() {
	command -v initdb >/dev/null 2>&1 && return 0
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

if [ "$force" = 0 ] && have_initdb; then
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "$script: initdb not found and not root with apt-get: install PostgreSQL's server package" >&2
	exit 0
fi
{
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
} </dev/null >>"$log" 2>&1 || fail "could not install postgresql with apt-get"
have_initdb || fail "postgresql installed, yet no initdb under /usr/lib/postgresql/*/bin"
