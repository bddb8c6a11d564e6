# install.sh is sourced by the install-*.sh scripts: the --force flag, a
# log of the current step, and a fail() that prints that log. The caller
# sets `script` (its name, for messages) before sourcing it.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	*)
		echo "usage: $script [--force]" >&2
		exit 2
		;;
	esac
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# fail prints msg and the tail of the step's output, without colour codes
# (Maven colours some lines even in batch mode), and exits.
fail() {
	echo "$script: $1" >&2
	if [ -s "$log" ]; then
		echo "--- output ---" >&2
		sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 80 >&2
	fi
	exit 1
}

need() {
	command -v "$1" >/dev/null 2>&1 || fail "$1 not found on PATH ($2)"
}
