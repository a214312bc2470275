#!/usr/bin/env bash
# Run the whole test suite on this machine (the README's second command; CI runs it too).
#
# Installs what the suite needs when it is missing: a Docker engine, the offline test images, the
# virtualenv with test tools, Chromium (browser tests), tmux (terminal tests) and xfsprogs (storage quotas). Extra arguments go to
# pytest, e.g. `scripts/test.sh -m unit` for the fast layer only. Tests run on 3 parallel workers
# (LOCALHUB_TEST_WORKERS, 0 for one process).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/quiet.sh
. scripts/lib/quiet.sh
scripts/setup-docker.sh
scripts/build-images.sh
scripts/setup-venv.sh --test

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# storage caps held by XFS project quotas are tested on a loop-mounted XFS (skipped where the kernel lacks quotas)
command -v mkfs.xfs >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.xfs ] || [ -x /sbin/mkfs.xfs ] || missing+=(xfsprogs)
if [ ${#missing[@]} -gt 0 ]; then
    echo "test: installing ${missing[*]} (browser and terminal tests)…"
    t0=$SECONDS
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    quietly "apt-get update" $SUDO apt-get update -q || exit 1
    quietly "apt-get install ${missing[*]}" $SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a \
        apt-get install -y -q "${missing[@]}" || exit 1
    echo "test: installed ${missing[*]} in $((SECONDS - t0)) s (apt's output: $SETUP_LOG)"
fi

# Layers run side by side on parallel workers (most tests wait on containers, not on the CPU); tests that
# cannot share the machine run in one group (tests/conftest.py). LOCALHUB_TEST_WORKERS=0 runs them in one process.
workers="${LOCALHUB_TEST_WORKERS:-3}"
parallel=()
[ "$workers" != 0 ] && parallel=(-n "$workers" --dist loadgroup)
set +e
.venv/bin/pytest "${parallel[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "test: pytest collected no tests: that is a failure, not a pass." >&2
    exit 1
fi
exit "$rc"
