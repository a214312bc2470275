#!/usr/bin/env bash
# Install localhub on this machine and start the hub on its defaults (the README's first command).
#
# Makes sure a Docker engine runs (Debian's docker.io), builds the offline base and single-user images
# (cached), installs localhub into .venv and runs `localhub up --detach`: it prints a sign-in link.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-docker.sh
scripts/build-images.sh
scripts/setup-venv.sh
echo
.venv/bin/localhub up --detach "$@"
echo
echo "Next: open the link above, or create a server:  .venv/bin/localhub servers new my-first"
echo "(add $(pwd)/.venv/bin to your PATH to type just 'localhub')"
