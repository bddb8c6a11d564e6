#!/usr/bin/env bash
# install-test-servers.sh installs the DynamoDB-compatible servers the test
# suite starts on loopback:
#
#   dynalite  (npm, pinned in internal/testservers/servers/package.json + package-lock.json)
#             -> internal/testservers/servers/node_modules
#   moto      (Python, pinned in internal/testservers/servers/requirements.txt)
#             -> .cache/venv
#   python_dynamodb_lock (the Python lock client the interop tests drive,
#             pinned in internal/pyinterop/requirements.txt) -> .cache/venv
#
# It is idempotent: each part records a hash of its pin file and is skipped
# while that hash still matches, so a second run takes well under a second.
# It needs node, npm and python3 on PATH; on Debian, when the venv module is
# missing and we run as root, it installs python3-venv with apt-get.
# It reads no standard input and prints nothing on success; on failure it
# prints the failing step's log and exits non-zero.
#
# Options: --force reinstalls both servers.
set -euo pipefail

script=install-test-servers
# shellcheck source=lib/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/install.sh"
servers="$root/internal/testservers/servers"
venv="$root/.cache/venv"
pyinterop="$root/internal/pyinterop/requirements.txt"

hash_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# --- dynalite -------------------------------------------------------------
install_dynalite() {
	local stamp="$servers/node_modules/.leaselock-stamp"
	local want
	want="$(hash_of "$servers/package.json" "$servers/package-lock.json")"
	if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
		[ -f "$servers/node_modules/dynalite/cli.js" ]; then
		return 0
	fi
	need node "dynalite runs on Node.js"
	need npm "dynalite is installed with npm"
	(cd "$servers" && npm ci --no-audit --no-fund --loglevel=error) \
		</dev/null >"$log" 2>&1 || fail "npm ci failed in internal/testservers/servers/"
	[ -f "$servers/node_modules/dynalite/cli.js" ] ||
		fail "npm ci succeeded but node_modules/dynalite/cli.js is missing"
	echo "$want" >"$stamp"
}

# --- moto -----------------------------------------------------------------
make_venv() {
	if python3 -m venv "$venv" </dev/null >"$log" 2>&1; then
		return 0
	fi
	# Debian ships the venv module (ensurepip) separately.
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		local pkg
		pkg="python$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv"
		{
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" python3-venv ||
				{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" python3-venv; }
		} </dev/null >>"$log" 2>&1 || fail "could not install $pkg with apt-get"
		rm -rf "$venv"
		python3 -m venv "$venv" </dev/null >>"$log" 2>&1 && return 0
	fi
	fail "python3 -m venv failed (on Debian: apt-get install python3-venv)"
}

install_moto() {
	local stamp="$venv/.leaselock-stamp"
	local want
	want="$(hash_of "$servers/requirements.txt" "$pyinterop")"
	if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
		[ -x "$venv/bin/moto_server" ]; then
		return 0
	fi
	need python3 "moto runs on Python 3"
	rm -rf "$venv"
	mkdir -p "$(dirname "$venv")"
	make_venv
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
		--no-input -r "$servers/requirements.txt" -r "$pyinterop" </dev/null >"$log" 2>&1 ||
		fail "pip install -r internal/testservers/servers/requirements.txt -r internal/pyinterop/requirements.txt failed"
	[ -x "$venv/bin/moto_server" ] || fail "pip succeeded but moto_server is missing"
	"$venv/bin/python" -c "import python_dynamodb_lock" </dev/null >>"$log" 2>&1 ||
		fail "pip succeeded but python_dynamodb_lock does not import"
	echo "$want" >"$stamp"
}

install_dynalite
install_moto
