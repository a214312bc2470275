"""A home coming back as a stream: unpacked while it arrives next to the old one inside its volume, and
swapped in only once the stream checks out, so a transfer cut half-way or altered on the way leaves the old
home as it was."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from ...errors import LocalhubError
from .archives import PATIENCE
from .tar_helpers import WORK, outcome, remove_helper, write_fifo

log = logging.getLogger("localhub.pool.away.archives")  # the daemon's log names these lines as before the move

# Run (as root, no network) in a container of the server's own image with the volume at /v: tar unpacks the
# incoming home into /v/<staging>, then the script waits for the verdict on the stream (a file in /in). Only
# with `ok` does it move the old files into /v/<previous>, the new ones up, give /v the archived home's own
# owner, mode and time, and say `swapped` (in /in/outcome); whatever happened, it then removes the staging
# places (also those a killed daemon left behind). Nothing of the old home is removed before all new files
# are in place, and the old files' removal comes after the home is reported swapped in: the caller does not
# wait for it (restore_home_stream's `cleaned`; a server may start meanwhile). Every process started here costs 5-20 ms on a busy desktop,
# so between the last byte and `swapped` only the moves and the attributes start one ([, read, echo are the
# shell's own).
SWAP = r"""
cd /v || exit 2
mkdir {staging} {previous} && tar -x -p -B -b 256 --numeric-owner -f /in/home.tar -C {staging}
unpacked=$?
# the verdict follows the last byte at once; none after a failed tar (its input ended early: the daemon may
# be gone), nor for more than a minute
waited=0
while [ $unpacked = 0 ] && [ ! -e /in/verdict ] && [ $waited -lt 6000 ]; do sleep 0.01; waited=$((waited+1)); done
verdict=
[ $unpacked = 0 ] && read -r verdict < /in/verdict
if [ "$verdict" = ok ] && [ -d {staging}/jovyan ]; then
    set -e
    stamp=$(stat -c %y {staging}/jovyan)
    # one mv each way: a home has dozens of entries
    set --
    for f in * .[!.]* ..?*; do
        case "$f" in .localhub-restore-*|.localhub-previous-*) continue;; esac
        if [ -e "$f" ] || [ -L "$f" ]; then set -- "$@" "$f"; fi
    done
    [ $# = 0 ] || mv -- "$@" {previous}/
    set --
    for f in {staging}/jovyan/* {staging}/jovyan/.[!.]* {staging}/jovyan/..?*; do
        if [ -e "$f" ] || [ -L "$f" ]; then set -- "$@" "$f"; fi
    done
    [ $# = 0 ] || mv -- "$@" ./
    chown --reference={staging}/jovyan /v && chmod --reference={staging}/jovyan /v && touch -d "$stamp" /v
    set +e
    echo swapped > /in/outcome
elif [ $unpacked != 0 ]; then
    echo "tar exited with $unpacked"
elif [ "$verdict" = ok ]; then
    echo "the archive held no home"
fi
rm -rf .localhub-restore-* .localhub-previous-*
# removing them changed the home's time again
[ -e /in/outcome ] && touch -d "$stamp" /v
"""


@dataclass(frozen=True)
class Restored:
    swap: float  # seconds from the last byte to the home swapped in
    cleaned: Future  # the old files' removal and the helper's, which go on after the swap (never raises)


_cleaners = ThreadPoolExecutor(2, thread_name_prefix="home-cleanup")


def _clean_up(helper, folder: str) -> None:
    """After a swap: let the helper remove the old files and end, then remove it and its folder. Whatever
    fails here is left to the next restore into the volume and to `sweep`."""
    try:
        try:
            helper.wait(timeout=PATIENCE)
        finally:
            remove_helper(helper)
    except Exception as err:  # noqa: BLE001 - a thread of its own: nobody else would hear of it
        log.warning("could not remove the container that restored a home (%s); it goes when localhub starts "
                    "again", err)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def restore_home_stream(client: docker.DockerClient, volume: str, image: str, chunks, labels: dict,
                        work: Path) -> Restored:
    """Make `volume` hold exactly the home whose tar archive `chunks` yields, unpacked while it arrives.

    `chunks` raises (and so never ends) unless the archive is whole and checked (stream.Unframer); then the
    old home stays as it was and the partial copy is removed before this returns. Once the home is swapped in
    this returns at once; the old files and the helper go meanwhile (`Restored.cleaned`; the helper, labelled
    as a transfer's, still mounts the volume for that moment). `work`: a directory of ours for the FIFO.
    """
    staging, previous = (f".localhub-{what}-{secrets.token_hex(8)}" for what in ("restore", "previous"))
    tmp = tempfile.mkdtemp(dir=work, prefix="home-in-")
    helper, ok, handed_over = None, False, False
    try:
        fifo, verdict = Path(tmp) / "home.tar", Path(tmp) / "verdict"
        os.mkfifo(fifo, 0o600)
        helper = client.containers.create(
            image, entrypoint=["sh", "-c", SWAP.format(staging=staging, previous=previous)], user="0",
            network_mode="none", labels={**labels, WORK: str(work)},
            volumes={volume: {"bind": "/v", "mode": "rw"}, tmp: {"bind": "/in", "mode": "rw"}})
        helper.start()
        try:
            write_fifo(fifo, helper, chunks)
            ok = True
        except BrokenPipeError:  # tar stopped reading: its own words say why
            pass
        finally:  # also when `chunks` raised: the helper then ends without swapping
            swapping = time.monotonic()
            (Path(tmp) / "verdict.part").write_text("ok\n" if ok else "no\n")
            (Path(tmp) / "verdict.part").replace(verdict)
        if outcome(Path(tmp) / "outcome", helper) == "swapped\n":
            handed_over = True
            return Restored(time.monotonic() - swapping, _cleaners.submit(_clean_up, helper, tmp))
        code = helper.wait(timeout=PATIENCE).get("StatusCode")
        said = helper.logs(tail=5).decode(errors="replace").strip()
        raise LocalhubError(f"Restoring the home into volume {volume} failed (exit {code}): "
                            f"{said or 'the archive held no home'}")
    finally:
        if not handed_over:  # not swapped: once the helper has removed what it unpacked, it goes
            try:
                if helper is not None:
                    with contextlib.suppress(docker.errors.APIError):
                        helper.wait(timeout=PATIENCE)
                    remove_helper(helper)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

