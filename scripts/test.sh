#!/usr/bin/env bash
# Run the whole test suite on this machine (the README's second command; CI runs it too).
#
# Installs what the suite needs when it is missing: a Docker engine, the offline test images, the
# virtualenv with test tools, Chromium (browser tests) and tmux (terminal tests). Extra arguments go to
# pytest, e.g. `scripts/test.sh -m unit` for the fast layer only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-docker.sh
scripts/build-images.sh
scripts/setup-venv.sh --test

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
    echo "test: installing ${missing[*]} (browser and terminal tests)"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "test: pytest collected no tests: that is a failure, not a pass." >&2
    exit 1
fi
exit "$rc"
