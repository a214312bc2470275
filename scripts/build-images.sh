#!/usr/bin/env bash
# Build localhub's offline images, cached by a recipe hash.
#
#   scripts/build-images.sh [--force] [--verbose]
#
#   localhub/base:test        (also :latest)  Debian bookworm minbase made with debootstrap from the
#                                             host's apt mirror, then `docker import`ed.
#   localhub/singleuser:test  (also :latest)  FROM the base: a venv at /opt/venv with jupyterhub (the
#                                             host's version), jupyterlab, notebook (7: the classic /tree
#                                             and /notebooks pages that old Binder links open) and
#                                             ipykernel, installed with `pip install --no-index` from
#                                             wheels the host downloaded; JupyterLab set never to ask
#                                             about or fetch Jupyter news (the hub is often offline).
#
# Each image carries `localhub.recipe=<sha256 of its recipe>`; a build is skipped when an image with
# that label already exists. --force rebuilds both. Needs a running Docker engine (run
# scripts/setup-docker.sh first), debootstrap, and root (or sudo) for debootstrap.
#
# Environment:
#   LOCALHUB_JUPYTERHUB_VERSION  jupyterhub version for the image (default: the one in the repo's .venv,
#                                else in python3, else 6.1.1)
#   LOCALHUB_DEBIAN_MIRROR       Debian mirror for debootstrap (default: read from the host's apt sources)
#   XDG_CACHE_HOME               the wheelhouse lives in ${XDG_CACHE_HOME:-$HOME/.cache}/localhub/wheels
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Settings. Everything here that shapes an image goes into its recipe hash.
# ---------------------------------------------------------------------------------------------
RECIPE_VERSION=1            # bump when the build logic below changes in a way the hashes cannot see
SUITE=bookworm
VARIANT=minbase
INCLUDE=python3,python3-venv,python3-pip,git,ca-certificates,tini
BASE_REPO=localhub/base
SINGLEUSER_REPO=localhub/singleuser
TAGS=(test latest)
STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# `docker import` gives an empty config: write out everything the image needs.
BASE_CHANGES=(
    "ENV PATH=$STD_PATH"
    "ENV LANG=C.UTF-8"
    'CMD ["/bin/bash"]'
    "LABEL localhub.image=base"
)
PIP_PLATFORM_ARGS=(
    --only-binary=:all:
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
    --python-version 3.11 --implementation cp
)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$SCRIPT_DIR")"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/localhub"
WHEELHOUSE="$CACHE_DIR/wheels"
LOG_DIR="$CACHE_DIR/logs"

FORCE=false
VERBOSE=false
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=true ;;
        -v|--verbose) VERBOSE=true ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "build-images: error: unknown argument '$arg' (use --force, --verbose or --help)." >&2; exit 2 ;;
    esac
done

say() { printf 'build-images: %s\n' "$*"; }
die() { printf 'build-images: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
sha() { sha256sum | cut -c1-64; }

HINT=""   # printed after a failed step's log, when set
# Run a step with its output in a log file (streamed too with --verbose); on failure show its tail.
run_logged() {
    local log="$1" what="$2"; shift 2
    local rc=0
    if $VERBOSE; then
        "$@" 2>&1 | tee "$log" || rc=$?
    else
        "$@" >"$log" 2>&1 || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        printf 'build-images: error: %s failed (exit %s). The last lines of %s:\n' "$what" "$rc" "$log" >&2
        tail -n 30 "$log" | sed 's/^/    /' >&2
        [ -z "$HINT" ] || printf 'build-images: %s\n' "$HINT" >&2
        exit 1
    fi
}

# Debian's own CLI: with DOCKER_BUILDKIT=1 it uses the engine's built-in BuildKit (no buildx plugin).
if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker
elif command -v docker >/dev/null 2>&1; then DOCKER="$(command -v docker)"
else die "the docker command is not installed; run scripts/setup-docker.sh first."
fi
export DOCKER_BUILDKIT=1
"$DOCKER" info >/dev/null 2>&1 \
    || die "the Docker engine does not answer (docker info failed${DOCKER_HOST:+ for DOCKER_HOST=$DOCKER_HOST}); run scripts/setup-docker.sh first."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
fi
as_root() { ${SUDO:+$SUDO} "$@"; }

mkdir -p "$CACHE_DIR" "$WHEELHOUSE" "$LOG_DIR"

# One build at a time per cache directory.
exec 9>"$CACHE_DIR/build.lock"
if ! flock -n 9; then
    say "another build-images.sh is running; waiting for it to finish…"
    flock 9
fi

# Temporary directories, removed on exit. A debootstrap target may still have /proc, /sys or /dev
# mounted inside it when debootstrap fails: unmount those first, never delete through a mount.
TMP_DIRS=()
cleanup() {
    local d m
    for d in "${TMP_DIRS[@]+"${TMP_DIRS[@]}"}"; do
        [ -e "$d" ] || continue
        awk -v d="$d/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
            as_root umount -l "$m" 2>/dev/null || true
        done
        as_root rm -rf --one-file-system "$d" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Our image for a recipe, if any: one tagged in our repository that carries both labels.
# Only images tagged in that repository count: images built FROM ours (repo2docker's, for one)
# inherit our labels, so a search by label alone can find them instead.
image_with() {   # $1 repository, $2 image kind, $3 recipe hash
    local t want="$2 $3"
    for t in "${TAGS[@]}"; do
        if [ "$("$DOCKER" image inspect --format \
                '{{index .Config.Labels "localhub.image"}} {{index .Config.Labels "localhub.recipe"}}' \
                "$1:$t" 2>/dev/null)" = "$want" ]; then
            "$DOCKER" image inspect --format '{{.Id}}' "$1:$t"
            return
        fi
    done
    "$DOCKER" images -q --no-trunc \
        --filter "label=localhub.image=$2" --filter "label=localhub.recipe=$3" "$1" | head -n 1
}
tag_all() {      # $1 image id, $2 repository
    local t
    for t in "${TAGS[@]}"; do "$DOCKER" tag "$1" "$2:$t"; done
}
image_size() { "$DOCKER" image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

OLD_IMAGES=()   # images this run replaced; removed at the end when nothing else uses them
remember_old() {
    local id
    id="$("$DOCKER" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)"
    [ -n "$id" ] && OLD_IMAGES+=("$id")
    return 0
}

# ---------------------------------------------------------------------------------------------
# The Debian mirror: LOCALHUB_DEBIAN_MIRROR, else the host's apt sources (deb822 first).
# ---------------------------------------------------------------------------------------------
DEB822_SOURCES=/etc/apt/sources.list.d/debian.sources
LIST_SOURCES=/etc/apt/sources.list

# Prints the first URI of the `deb` entry for $SUITE, else of the first plain-release `deb` entry
# (no -security/-updates/-backports suffix).
mirror_from_deb822() {
    awk -v suite="$SUITE" '
        function flush(   n, u, s, i) {
            if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
                n = split(uris, u, " "); uri = u[1]
                if (uri ~ /^(https?|ftp|file):/) {
                    n = split(suites, s, " ")
                    for (i = 1; i <= n; i++) {
                        if (s[i] == suite && best == "") best = uri
                        if (s[i] !~ /-/ && any == "") any = uri
                    }
                }
            }
            types = suites = uris = ""; enabled = "yes"; key = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[A-Za-z0-9-]+:/ {
            key = tolower(substr($0, 1, index($0, ":") - 1)); val = substr($0, index($0, ":") + 1)
        }
        /^[ \t]/ { val = $0 }
        {
            gsub(/[ \t]+/, " ", val)
            if (key == "types") types = types " " val
            else if (key == "suites") suites = suites " " val
            else if (key == "uris") uris = uris " " val
            else if (key == "enabled") { gsub(/ /, "", val); enabled = tolower(val) }
        }
        END { flush(); if (best != "") print best; else if (any != "") print any }
    ' "$1"
}

mirror_from_list() {
    awk -v suite="$SUITE" '
        { sub(/#.*/, "") }
        $1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            uri = $i; s = $(i + 1)
            if (uri !~ /^(https?|ftp|file):/) next
            if (s == suite && best == "") best = uri
            if (s !~ /-/ && any == "") any = uri
        }
        END { if (best != "") print best; else if (any != "") print any }
    ' "$1"
}

find_mirror() {
    local m=""
    if [ -n "${LOCALHUB_DEBIAN_MIRROR:-}" ]; then
        MIRROR="$LOCALHUB_DEBIAN_MIRROR"; MIRROR_FROM="LOCALHUB_DEBIAN_MIRROR"; return
    fi
    if [ -r "$DEB822_SOURCES" ]; then
        m="$(mirror_from_deb822 "$DEB822_SOURCES")"
        [ -n "$m" ] && { MIRROR="$m"; MIRROR_FROM="$DEB822_SOURCES"; return; }
    fi
    if [ -r "$LIST_SOURCES" ]; then
        m="$(mirror_from_list "$LIST_SOURCES")"
        [ -n "$m" ] && { MIRROR="$m"; MIRROR_FROM="$LIST_SOURCES"; return; }
    fi
    die "no Debian mirror found: read $DEB822_SOURCES (URIs: of a 'deb' entry for $SUITE) and $LIST_SOURCES (a 'deb URI $SUITE main' line); neither has one (set LOCALHUB_DEBIAN_MIRROR to a Debian mirror URL to choose one)."
}

# ---------------------------------------------------------------------------------------------
# 1. Base image.
# ---------------------------------------------------------------------------------------------
BASE_RECIPE="$(
    printf 'localhub base recipe %s\n' "$RECIPE_VERSION"
    printf 'debootstrap --variant=%s --include=%s %s\n' "$VARIANT" "$INCLUDE" "$SUITE"
    printf 'change %s\n' "${BASE_CHANGES[@]}"
    printf 'excluded from the tarball: dev proc sys contents, apt lists and archives\n'
)"
BASE_HASH="$(printf '%s' "$BASE_RECIPE" | sha)"

build_base() {
    local t0 rootfs debs
    command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] \
        || die "debootstrap is not installed; run scripts/setup-docker.sh (it installs it) or apt-get install debootstrap."
    [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ] \
        || die "debootstrap needs root, and this user is not root and sudo is not installed."
    local debootstrap_bin
    debootstrap_bin="$(command -v debootstrap 2>/dev/null || echo /usr/sbin/debootstrap)"
    find_mirror
    say "building base image $BASE_REPO:${TAGS[0]}: debootstrap $SUITE ($VARIANT) from $MIRROR (read from $MIRROR_FROM), about a minute…"
    t0="$(now)"
    rootfs="$(mktemp -d /var/tmp/localhub-base.XXXXXX)"
    TMP_DIRS+=("$rootfs")
    # Downloaded .debs are kept between builds: a forced rebuild does not fetch them again.
    debs="$CACHE_DIR/debootstrap-debs"
    mkdir -p "$debs"
    run_logged "$LOG_DIR/base-debootstrap.log" "debootstrap" \
        as_root "$debootstrap_bin" --variant="$VARIANT" --include="$INCLUDE" --cache-dir="$debs" \
        "$SUITE" "$rootfs" "$MIRROR"
    say "debootstrap finished in $(since "$t0") s; importing into Docker…"
    as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/var/cache/apt/*.bin
    local changes=() c
    for c in "${BASE_CHANGES[@]}" "LABEL localhub.recipe=$BASE_HASH"; do changes+=(--change "$c"); done
    remember_old "$BASE_REPO:${TAGS[0]}"
    local id
    id="$(as_root tar --numeric-owner -C "$rootfs" \
            --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . \
          | "$DOCKER" import "${changes[@]}" --message "localhub base: debootstrap $SUITE $VARIANT" - \
                "$BASE_REPO:${TAGS[0]}")" \
        || die "docker import of the debootstrap tree failed."
    tag_all "$id" "$BASE_REPO"
    say "built base image $BASE_REPO:${TAGS[0]} ($(image_size "$id")) in $(since "$t0") s."
}

t_all="$(now)"
base_id="$(image_with "$BASE_REPO" base "$BASE_HASH")"
if $FORCE || [ -z "$base_id" ]; then
    if $FORCE && [ -n "$base_id" ]; then say "--force: rebuilding the base image."; fi
    build_base
else
    tag_all "$base_id" "$BASE_REPO"
    say "base image $BASE_REPO:${TAGS[0]} is up to date (recipe ${BASE_HASH:0:12}, $(image_size "$base_id"))."
fi

# ---------------------------------------------------------------------------------------------
# 2. Single-user image.
# ---------------------------------------------------------------------------------------------
jupyterhub_version() {
    local v py
    if [ -n "${LOCALHUB_JUPYTERHUB_VERSION:-}" ]; then
        echo "$LOCALHUB_JUPYTERHUB_VERSION LOCALHUB_JUPYTERHUB_VERSION"; return
    fi
    for py in "$REPO_DIR/.venv/bin/python" python3; do
        v="$("$py" -c 'import jupyterhub; print(jupyterhub.__version__)' 2>/dev/null || true)"
        if [ -n "$v" ]; then echo "$v $py"; return; fi
    done
    echo "6.1.1 fallback"
}
read -r JH_VERSION JH_FROM < <(jupyterhub_version)
[[ "$JH_VERSION" =~ ^[0-9][0-9A-Za-z.+-]*$ ]] || die "unusable jupyterhub version '$JH_VERSION' (from $JH_FROM)."
# notebook: Binder links with filepath= or urlpath=tree/… open /tree/…, which JupyterLab alone does not serve
REQUIREMENTS=("jupyterhub==$JH_VERSION" jupyterlab notebook ipykernel)

# JupyterLab's defaults for every server: the hub is often offline, so it never asks about (nor fetches) Jupyter
# news or checks for updates on each new server.
LAB_OVERRIDES='{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}'

# Written out in full: the imported base has no PATH to extend.
DOCKERFILE="$(cat <<EOF
FROM $BASE_REPO:${TAGS[0]}
RUN groupadd --gid 1000 jovyan \\
 && useradd --uid 1000 --gid 1000 --home-dir /home/jovyan --create-home --shell /bin/bash jovyan \\
 && chown 1000:1000 /home/jovyan && chmod 755 /home/jovyan
# The wheelhouse is the build context, bind-mounted for this step only: no wheel layer stays behind.
# Debian's system pip refuses installs, hence the venv; it belongs to jovyan so that users can
# pip install into it from their notebooks.
RUN --mount=type=bind,target=/tmp/wheels \\
    python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-index --find-links=/tmp/wheels --no-cache-dir \\
        --disable-pip-version-check ${REQUIREMENTS[*]} \\
 && /opt/venv/bin/python -m ipykernel --version \
 && /opt/venv/bin/jupyter notebook --version \\
 && mkdir -p /opt/venv/share/jupyter/lab/settings \\
 && echo '$LAB_OVERRIDES' >/opt/venv/share/jupyter/lab/settings/overrides.json \\
 && chown -R 1000:1000 /opt/venv
ENV HOME=/home/jovyan \\
    PATH=/opt/venv/bin:$STD_PATH \\
    VIRTUAL_ENV=/opt/venv \\
    SHELL=/bin/bash \\
    LANG=C.UTF-8
LABEL localhub.image=singleuser
WORKDIR /home/jovyan
USER 1000
EXPOSE 8888
ENTRYPOINT ["tini", "-g", "--"]
CMD ["jupyterhub-singleuser"]
EOF
)"
SINGLEUSER_RECIPE="$(
    printf 'localhub singleuser recipe %s\n' "$RECIPE_VERSION"
    printf 'base %s\n' "$BASE_HASH"
    printf 'requirements %s\n' "${REQUIREMENTS[*]}"
    printf 'pip download %s\n' "${PIP_PLATFORM_ARGS[*]}"
    printf '%s\n' "$DOCKERFILE"
)"
SINGLEUSER_HASH="$(printf '%s' "$SINGLEUSER_RECIPE" | sha)"

# The wheelhouse: downloaded by the host once per requirement set, then reused offline.
WHEEL_STAMP="$WHEELHOUSE/.localhub-complete"
WHEEL_SPEC="$(printf '%s\n' "${REQUIREMENTS[*]}" "${PIP_PLATFORM_ARGS[*]}")"
ensure_wheelhouse() {
    local t0 n
    if [ -f "$WHEEL_STAMP" ] && [ "$(cat "$WHEEL_STAMP")" = "$WHEEL_SPEC" ]; then
        n="$(find "$WHEELHOUSE" -maxdepth 1 -name '*.whl' | wc -l)"
        say "reusing the wheelhouse $WHEELHOUSE ($n wheels, $(du -sm "$WHEELHOUSE" | cut -f1) MB)."
        return
    fi
    if ! { command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; }; then
        die "python3 -m pip is not available on this machine; install python3-pip (scripts/setup-docker.sh does)."
    fi
    say "downloading wheels for ${REQUIREMENTS[*]} (Python 3.11, manylinux x86_64) into $WHEELHOUSE, about 20 s…"
    t0="$(now)"
    rm -f "$WHEEL_STAMP"
    run_logged "$LOG_DIR/pip-download.log" "pip download" \
        python3 -m pip download --dest "$WHEELHOUSE" "${PIP_PLATFORM_ARGS[@]}" "${REQUIREMENTS[@]}"
    printf '%s\n' "$WHEEL_SPEC" >"$WHEEL_STAMP"
    n="$(find "$WHEELHOUSE" -maxdepth 1 -name '*.whl' | wc -l)"
    say "downloaded the wheelhouse ($n wheels, $(du -sm "$WHEELHOUSE" | cut -f1) MB) in $(since "$t0") s."
}

build_singleuser() {
    local t0 ctx id
    ensure_wheelhouse
    say "building single-user image $SINGLEUSER_REPO:${TAGS[0]} (jupyterhub $JH_VERSION as found in $JH_FROM; about 30 s)…"
    t0="$(now)"
    ctx="$(mktemp -d "${TMPDIR:-/tmp}/localhub-singleuser.XXXXXX")"
    TMP_DIRS+=("$ctx")
    printf '%s\n' "$DOCKERFILE" >"$ctx/Dockerfile"
    remember_old "$SINGLEUSER_REPO:${TAGS[0]}"
    local tag_args=() t
    for t in "${TAGS[@]}"; do tag_args+=(-t "$SINGLEUSER_REPO:$t"); done
    HINT="If pip reports a missing wheel, remove $WHEEL_STAMP to download the wheelhouse again."
    run_logged "$LOG_DIR/singleuser-build.log" "docker build of the single-user image" \
        "$DOCKER" build --progress=plain --label "localhub.recipe=$SINGLEUSER_HASH" \
        --iidfile "$ctx/iid" "${tag_args[@]}" -f "$ctx/Dockerfile" "$WHEELHOUSE"
    HINT=""
    id="$(cat "$ctx/iid")"
    say "built single-user image $SINGLEUSER_REPO:${TAGS[0]} ($(image_size "$id")) in $(since "$t0") s."
}

su_id="$(image_with "$SINGLEUSER_REPO" singleuser "$SINGLEUSER_HASH")"
if $FORCE || [ -z "$su_id" ]; then
    if $FORCE && [ -n "$su_id" ]; then say "--force: rebuilding the single-user image."; fi
    build_singleuser
else
    tag_all "$su_id" "$SINGLEUSER_REPO"
    say "single-user image $SINGLEUSER_REPO:${TAGS[0]} is up to date (recipe ${SINGLEUSER_HASH:0:12}, jupyterhub $JH_VERSION, $(image_size "$su_id"))."
fi

# Images this run replaced and left untagged: remove them (newest first, so a replaced single-user
# image goes before its replaced base) unless a container or another image still uses them.
for ((i = ${#OLD_IMAGES[@]} - 1; i >= 0; i--)); do
    id="${OLD_IMAGES[$i]}"
    if [ -z "$("$DOCKER" image inspect --format '{{join .RepoTags " "}}' "$id" 2>/dev/null)" ] \
            && "$DOCKER" rmi "$id" >/dev/null 2>&1; then
        say "removed the replaced image ${id:7:12}."
    fi
done
say "done in $(since "$t_all") s."
