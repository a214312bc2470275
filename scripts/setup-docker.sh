#!/usr/bin/env bash
# Make a Docker engine available for localhub, and the host tools later steps need.
#
#   scripts/setup-docker.sh
#
# Idempotent: when `docker info` already answers (DOCKER_HOST is honoured) and every host tool is
# present, it prints one line and exits 0. Otherwise it installs what is missing with apt-get
# (Debian's docker.io, debootstrap, git, tmux, iproute2, python3-pip; apt-get update runs at most
# once), starts dockerd in the background (detached, log in /var/log/localhub-dockerd.log) and waits
# up to 60 s for it to answer.
#
# Environment:
#   LOCALHUB_DOCKERD_LOG       log file for dockerd (default /var/log/localhub-dockerd.log)
#   LOCALHUB_DOCKERD_TIMEOUT   seconds to wait for the engine (default 60)
set -euo pipefail
# shellcheck source=lib/quiet.sh
. "$(dirname "$0")/lib/quiet.sh"

DOCKERD_LOG="${LOCALHUB_DOCKERD_LOG:-/var/log/localhub-dockerd.log}"
TIMEOUT="${LOCALHUB_DOCKERD_TIMEOUT:-60}"

say() { printf 'setup-docker: %s\n' "$*"; }
die() { printf 'setup-docker: error: %s\n' "$*" >&2; exit 1; }

# `command -v` misses /usr/sbin and /sbin for ordinary users on Debian: look there too.
have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

# Run as root: directly when we are root, through sudo otherwise (decided once, on first need).
SUDO=""
need_root() {
    # $1: what we are about to do, for the error message.
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        die "$1 needs root, and this user is not root and sudo is not installed."
    fi
}
as_root() { ${SUDO:+$SUDO} "$@"; }

docker_ok() { docker info >/dev/null 2>&1; }

# Pids of running dockerd processes (reads /proc: pgrep/pidof are not on every minimal system).
dockerd_pids() {
    local f
    for f in /proc/[0-9]*/comm; do
        [ "$(cat "$f" 2>/dev/null)" = dockerd ] && { f=${f#/proc/}; printf '%s ' "${f%/comm}"; }
    done
    return 0
}

# ---------------------------------------------------------------------------------------------
# 1. What is missing?
# ---------------------------------------------------------------------------------------------
engine_running=false
if have docker && docker_ok; then
    engine_running=true
fi

missing=()
if ! $engine_running && { ! have dockerd || ! have docker; }; then
    missing+=(docker.io)
fi
have debootstrap || missing+=(debootstrap)
have git || missing+=(git)
have tmux || missing+=(tmux)
have ip || missing+=(iproute2)
# build-images.sh downloads the image's wheels with the host's `python3 -m pip download`.
if ! { command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; }; then
    missing+=(python3-pip)
fi

if $engine_running && [ ${#missing[@]} -eq 0 ]; then
    say "the Docker engine is already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null || echo '?') at ${DOCKER_HOST:-the default socket}) and the host tools are installed."
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# 2. Install the missing packages (one apt-get update, one apt-get install).
# ---------------------------------------------------------------------------------------------
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 \
        || die "these packages are missing: ${missing[*]}; this script installs them with apt-get, which this machine does not have (it expects Debian)."
    need_root "installing ${missing[*]}"
    say "installing ${missing[*]} with apt-get (this can take a minute)…"
    t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
    quietly "apt-get update" as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        || die "apt-get update failed; check the apt sources in /etc/apt."
    quietly "apt-get install ${missing[*]}" as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a \
        apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed."
    say "installed ${missing[*]} in $((SECONDS - t0)) s (apt's output: $SETUP_LOG)."
fi

if $engine_running; then
    say "the Docker engine is already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null || echo '?'))."
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# 3. Start the engine.
# ---------------------------------------------------------------------------------------------
have docker || die "the docker command is still missing after installing docker.io."

# Installing docker.io on a systemd machine starts the engine by itself.
if docker_ok; then
    say "the Docker engine is running ($(docker info --format '{{.ServerVersion}}'))."
    exit 0
fi

# A DOCKER_HOST that points somewhere else cannot be fixed by starting a local dockerd.
case "${DOCKER_HOST:-}" in
    ""|unix:///var/run/docker.sock|unix:///run/docker.sock) ;;
    *) die "DOCKER_HOST is set to $DOCKER_HOST but no engine answers there; start that engine, or unset DOCKER_HOST to use a local one." ;;
esac

# The engine may be up while this user may not use its socket.
if [ -S /var/run/docker.sock ] && docker info 2>&1 | grep -qi 'permission denied'; then
    die "the Docker engine is running but this user may not use /var/run/docker.sock; add yourself to the docker group (sudo usermod -aG docker \"\$USER\", then log in again) or run as root."
fi

need_root "starting dockerd"
dockerd_bin="$(command -v dockerd 2>/dev/null || true)"
[ -n "$dockerd_bin" ] || for d in /usr/sbin/dockerd /sbin/dockerd; do [ -x "$d" ] && dockerd_bin=$d && break; done
[ -n "$dockerd_bin" ] || die "dockerd is not installed (the docker.io package should provide /usr/sbin/dockerd)."

running_pids="$(dockerd_pids)"
if [ -n "$running_pids" ]; then
    say "dockerd is already running (pid ${running_pids% }) but does not answer yet; waiting for it."
elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 \
        && systemctl cat docker.service >/dev/null 2>&1; then
    say "starting the Docker engine with systemd (systemctl start docker)…"
    as_root systemctl start docker || say "systemctl start docker failed; see: journalctl -u docker"
    DOCKERD_LOG=""   # systemd keeps the log in the journal
else
    say "starting dockerd in the background (log: $DOCKERD_LOG)…"
    as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid + nohup: its own session, immune to hang-ups, so it outlives this script and its terminal.
    # shellcheck disable=SC2016  # $1 and $2 are expanded by that inner sh
    as_root sh -c 'nohup setsid "$1" >>"$2" 2>&1 </dev/null &' sh "$dockerd_bin" "$DOCKERD_LOG"
fi

t0=$SECONDS
next_note=5
until docker_ok; do
    waited=$((SECONDS - t0))
    if [ "$waited" -ge "$TIMEOUT" ]; then
        printf 'setup-docker: error: the Docker engine did not answer within %s s.\n' "$TIMEOUT" >&2
        if [ -n "$DOCKERD_LOG" ] && as_root test -r "$DOCKERD_LOG"; then
            printf 'setup-docker: the last lines of %s:\n' "$DOCKERD_LOG" >&2
            as_root tail -n 25 "$DOCKERD_LOG" | sed 's/^/    /' >&2
        else
            printf 'setup-docker: see its log with: journalctl -u docker\n' >&2
        fi
        exit 1
    fi
    if [ -n "$DOCKERD_LOG" ] && [ -z "$(dockerd_pids)" ] && [ "$waited" -ge 2 ]; then
        printf 'setup-docker: error: dockerd exited right after starting. The last lines of %s:\n' "$DOCKERD_LOG" >&2
        as_root tail -n 25 "$DOCKERD_LOG" | sed 's/^/    /' >&2
        exit 1
    fi
    if [ "$waited" -ge "$next_note" ]; then
        say "still waiting for the Docker engine (${waited} s of ${TIMEOUT} s)…"
        next_note=$((next_note + 5))
    fi
    sleep 1
done
say "the Docker engine answers after $((SECONDS - t0)) s ($(docker info --format '{{.ServerVersion}}'))."
