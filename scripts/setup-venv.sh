#!/usr/bin/env bash
# Create the project's virtualenv (.venv, or $LOCALHUB_VENV) and install localhub into it, editable.
#
#   scripts/setup-venv.sh          localhub and what it needs to run
#   scripts/setup-venv.sh --test   plus what the test suite needs
#
# pip uses this machine's own configuration (index, mirrors); nothing here names a package host.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LOCALHUB_VENV:-.venv}"
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

say() { printf 'setup-venv: %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        say "installing python3-venv (Debian's python3 needs it for virtualenvs)"
        if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
        $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    say "creating $VENV"
    python3 -m venv "$VENV"
fi
say "installing localhub$extras into $VENV (a minute on a fresh machine)"
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/python" -m pip install -q -e ".$extras" 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/localhub" --version >/dev/null || { echo "setup-venv: error: localhub did not install" >&2; exit 1; }
say "localhub $("$VENV/bin/localhub" --version | cut -d' ' -f2) is installed in $VENV"
