#!/usr/bin/env bash
# Create the project's virtualenv (.venv, or $LOCALHUB_VENV) and install localhub into it.
#
#   scripts/setup-venv.sh          localhub and what it needs to run, installed as users get it (a wheel)
#   scripts/setup-venv.sh --test   editable, plus what the test suite needs (for working on localhub)
#
# pip uses this machine's own configuration (index, mirrors); nothing here names a package host.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/quiet.sh
. scripts/lib/quiet.sh
VENV="${LOCALHUB_VENV:-.venv}"
extras=""
editable=()
[ "${1:-}" = "--test" ] && { extras="[test]"; editable=(-e); }

say() { printf 'setup-venv: %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        say "installing python3-venv (Debian's python3 needs it for virtualenvs)"
        if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
        quietly "apt-get update" $SUDO apt-get update -q || exit 1
        quietly "apt-get install python3-venv" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv \
            || exit 1
    fi
    say "creating $VENV"
    quietly "python3 -m venv $VENV" python3 -m venv "$VENV" || exit 1
fi
say "installing localhub$extras into $VENV (a minute on a fresh machine)…"
t0=$SECONDS
quietly "pip install --upgrade pip" "$VENV/bin/python" -m pip install --upgrade pip || exit 1
quietly "pip install localhub$extras" "$VENV/bin/python" -m pip install "${editable[@]}" ".$extras" || exit 1
"$VENV/bin/localhub" --version >/dev/null || { echo "setup-venv: error: localhub did not install (log: $SETUP_LOG)" >&2; exit 1; }
say "localhub $("$VENV/bin/localhub" --version | cut -d' ' -f2) is installed in $VENV ($((SECONDS - t0)) s; pip's output: $SETUP_LOG)"
