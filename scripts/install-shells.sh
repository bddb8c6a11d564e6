#!/usr/bin/env bash
# install-shells.sh makes sure zsh and fish are present, so the CLI's
# completion scripts are tested in the real shells (bash is always there).
# On Debian as root it installs the missing ones with apt-get; elsewhere it
# says what is missing and exits non-zero, since the test suite requires
# them (LEASELOCK_REQUIRE_SERVERS). Quiet and idempotent.
set -euo pipefail

script=install-shells
# shellcheck source=lib/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/install.sh"

missing=()
for sh in zsh fish; do
	command -v "$sh" >/dev/null 2>&1 || missing+=("$sh")
done
[ "${#missing[@]}" = 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	{
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; }
	} </dev/null >"$log" 2>&1 || fail "could not install ${missing[*]} with apt-get"
	exit 0
fi
fail "missing ${missing[*]} (on Debian: apt-get install ${missing[*]})"
