#!/bin/sh
# Install localhub on a laptop with no internet, from a bundle made with
# `localhub bundle create … --with-installer`:
#
#     tar -xf course.lhb installer/install-from-bundle.sh && sh installer/install-from-bundle.sh course.lhb
#
# The laptop must already have: a running Docker engine (Debian: the docker.io package; see the README's
# workshop section for carrying its .deb files on the stick too), python3 with its venv module (Debian:
# python3-venv), tar and sha256sum. Installs into $LOCALHUB_VENV (default ~/.local/share/localhub-venv),
# then loads the bundle's images. Nothing is fetched from the network.
set -eu

BUNDLE=${1:-}
if [ -z "$BUNDLE" ]; then
    for candidate in ./*.lhb; do [ -f "$candidate" ] && BUNDLE=$candidate && break; done
fi
if [ -z "$BUNDLE" ] || [ ! -f "$BUNDLE" ]; then
    echo "install-from-bundle: name the bundle file: sh install-from-bundle.sh course.lhb" >&2
    exit 2
fi
VENV=${LOCALHUB_VENV:-$HOME/.local/share/localhub-venv}
for tool in python3 tar sha256sum docker; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        if [ "$tool" = docker ]; then
            echo "install-from-bundle: no Docker engine here (the docker command is missing); install Docker first" >&2
        else
            echo "install-from-bundle: $tool is missing; install it first" >&2
        fi
        exit 1
    fi
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
echo "install-from-bundle: unpacking the installer from $BUNDLE…"
tar -xf "$BUNDLE" -C "$WORK" installer/
if ! (cd "$WORK/installer" && sha256sum --check --quiet --strict SHA256SUMS); then
    echo "install-from-bundle: the bundle's installer is damaged (a wheel does not match its checksum); copy the bundle again" >&2
    exit 1
fi
PIP_WHEEL=$(ls "$WORK"/installer/pip-*.whl | head -n 1)
echo "install-from-bundle: installing localhub into $VENV (no network)…"
python3 -m venv --without-pip "$VENV"
"$VENV/bin/python" "$PIP_WHEEL/pip" install --quiet --no-index --find-links "$WORK/installer" localhub
echo "install-from-bundle: loading the bundle's images (base images and environments)…"
"$VENV/bin/localhub" bundle import "$BUNDLE"
echo "install-from-bundle: done. Start localhub with: $VENV/bin/localhub up"
