"""Moving a server between engines: images saved and loaded, homes archived and restored.

Images, and homes going out to a peer, cross the network as a whole file on disk whose SHA-256 is known, so
they are signed before they are sent and checked before they are used. A home coming back is streamed
instead (stream.py: the hash is signed in a trailer) and unpacked while it arrives into a fresh directory
inside its volume; only once the trailer checks out are the old files moved aside and the new ones moved in
(renames, in a moment), so a transfer cut half-way or altered on the way leaves the old home as it was,
never a half-restored one. Homes are plain tar archives of /home/jovyan, as `docker cp` makes them (owners,
modes and times kept).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import secrets
import select
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from ...errors import LocalhubError

log = logging.getLogger("localhub.pool.away.archives")

HOME = "/home/jovyan"
CHUNK = 1 << 20
PATIENCE = 600  # seconds an engine may take to answer while it saves or loads a large image (a busy desktop)


def _patient(client: docker.DockerClient) -> contextlib.closing:
    """A connection to the engine that waits long enough for image saves and loads, which can be silent for
    minutes on a busy desktop; the everyday client gives up after 30 s. localhub's clients all come from the
    environment (DOCKER_HOST), so this one reaches the same engine as `client`."""
    return contextlib.closing(docker.from_env(timeout=PATIENCE))


@dataclass(frozen=True)
class Archive:
    path: Path | None  # None: streamed, never a file
    size: int
    sha: str
    seconds: float

    @property
    def rate(self) -> float:
        """MB/s (10^6 bytes) of the operation that made it."""
        return self.size / 1e6 / max(self.seconds, 1e-6)


def file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write(chunks, dest: Path, began: float) -> Archive:
    digest, size = hashlib.sha256(), 0
    with open(dest, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return Archive(dest, size, digest.hexdigest(), time.monotonic() - began)


# --- images ----------------------------------------------------------------------------------------

def image_id(client: docker.DockerClient, image: str) -> str | None:
    try:
        return client.images.get(image).id
    except docker.errors.ImageNotFound:
        return None


def save_image(client: docker.DockerClient, image: str, dest: Path) -> Archive:
    began = time.monotonic()
    try:
        with _patient(client) as patient:
            return _write(patient.api.get_image(image, chunk_size=CHUNK), dest, began)
    except docker.errors.ImageNotFound:
        raise LocalhubError(f"The image {image} is not on this desktop's engine.") from None


def load_image(client: docker.DockerClient, path: Path) -> list[str]:
    """Load a `docker save` archive; returns the ids of the images it held."""
    loaded = []
    with open(path, "rb") as f, _patient(client) as patient:
        for line in patient.api.load_image(f):
            if isinstance(line, dict) and line.get("error"):
                raise LocalhubError(f"The engine could not load the image: {line['error']}")
            said = (line.get("stream") or "").strip() if isinstance(line, dict) else ""
            if said.startswith("Loaded image ID: "):
                loaded.append(said.removeprefix("Loaded image ID: "))
            elif said.startswith("Loaded image: "):
                loaded.append(client.images.get(said.removeprefix("Loaded image: ")).id)
    return loaded


# --- homes -----------------------------------------------------------------------------------------

def archive_container_home(container, dest: Path) -> Archive:
    """The home of a container, running or stopped (its volume's contents, as `docker cp` sees them)."""
    began = time.monotonic()
    stream, _ = container.get_archive(HOME, chunk_size=CHUNK)
    return _write(stream, dest, began)


def archive_volume_home(client: docker.DockerClient, volume: str, image: str, dest: Path, labels: dict) -> Archive:
    """The contents of a home volume, read through a container that is created but never started."""
    helper = client.containers.create(image, entrypoint=["true"], network_mode="none", labels=labels,
                                      volumes={volume: {"bind": HOME, "mode": "ro"}})
    try:
        return archive_container_home(helper, dest)
    finally:
        helper.remove(force=True)


# A home coming back or going out as a stream is read and written by GNU tar in a short-lived container of the
# server's own image (as root, no network), through a FIFO in a directory of ours bound into it: the engine's
# own archive API (`docker cp`) moves about a fifth as many bytes per second. Like restore_home, this needs
# the engine to see this desktop's files (a local engine).
WORK = "localhub.transfer-work"  # label: the directory of ours a helper container's transfer used (see sweep)
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20  # larger pipe buffer: fewer, larger reads and writes than with the 64 KiB default


def remove_helper(helper) -> None:
    """Remove a helper container; once this returns it is gone, also when something else (a guest's forget,
    the helper's own transfer) was removing it at the same time."""
    try:
        helper.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as err:
        if err.status_code != 409:  # 409: its removal is already in progress
            raise
        with contextlib.suppress(docker.errors.NotFound):
            helper.wait(condition="removed", timeout=PATIENCE)


def _exited(helper) -> bool:
    helper.reload()
    return helper.status in ("exited", "dead")


def _read_fifo(path: Path, helper):
    """What the helper writes into the FIFO at `path`, in pieces of about CHUNK, until it closes it (or
    exits without ever opening it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        opened, pending, held = False, [], 0
        while True:
            if not poller.poll(1000):  # no writer yet (Linux reports nothing on a FIFO never opened to write)
                if _exited(helper):
                    break
                continue
            try:
                data = os.read(fd, PIPE_SIZE)
            except BlockingIOError:
                continue
            if not data:  # the writer closed it
                if opened or _exited(helper):
                    break
                time.sleep(0.005)
                continue
            opened = True
            pending.append(data)
            held += len(data)
            if held >= CHUNK:
                yield b"".join(pending)
                pending, held = [], 0
        if pending:
            yield b"".join(pending)
    finally:
        os.close(fd)


def _write_fifo(path: Path, helper, chunks) -> None:
    """Write `chunks` into the FIFO the helper reads; LocalhubError if the helper ends before it opens it."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as err:
            if err.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            if _exited(helper):
                raise LocalhubError("the helper container ended before it read its input") from None
            time.sleep(0.005)
    try:
        os.set_blocking(fd, True)
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _outcome(path: Path, helper) -> str | None:
    """What the helper's script writes at `path` once its work is done (one line, ending in a newline: read
    only once whole), or None if the helper ends without writing it. Read as soon as it is there: the
    container's own end (the engine's teardown) comes 0.1-0.5 s later here."""
    deadline, polls = time.monotonic() + PATIENCE, 0
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            if (said := path.read_text()).endswith("\n"):
                return said
        polls += 1
        if polls % 100 == 0 and _exited(helper):  # about every half second
            with contextlib.suppress(FileNotFoundError):
                return path.read_text()
            return None
        time.sleep(0.005)
    return None


# The home going out: once told to go (a line in the FIFO /out/go), tar writes the archive into the FIFO
# /out/home.tar, then its exit status is left in /out/status. Waiting for `go` lets the helper be made and
# started while the guest stops (start_reader), so the home leaves as soon as it is asked for. Records of 128 KiB
# (-b 256) instead of tar's 10 KiB: a twelfth of the writes into the FIFO and of the reads out of it, on both
# sides (tar into a pipe and a reader, 200 MB here: 0.11-0.21 s instead of 0.27-0.31 s); the archive is
# padded to a whole record, 128 KiB at most, and unpacking with -B takes records of any size.
ARCHIVE = ("read -r go < /out/go && [ \"$go\" = go ] || exit 3; "
           "tar --numeric-owner -b 256 -c -f /out/home.tar -C /home jovyan; "
           "echo $? > /out/status.part && mv /out/status.part /out/status")


@dataclass
class Reader:
    """A started helper that will archive a home volume once told to (home_stream), and its folder."""

    helper: object
    folder: Path

    def close(self) -> None:
        try:
            remove_helper(self.helper)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_reader(client: docker.DockerClient, volume: str, image: str, labels: dict, work: Path) -> Reader:
    """Make and start the helper that archives `volume` (it reads nothing before home_stream tells it to go).
    `work`: a directory of ours for its FIFOs."""
    tmp = Path(tempfile.mkdtemp(dir=work, prefix="home-out-"))
    try:
        os.mkfifo(tmp / "home.tar", 0o600)
        os.mkfifo(tmp / "go", 0o600)
        helper = client.containers.create(
            image, entrypoint=["sh", "-c", ARCHIVE], user="0", network_mode="none", labels={**labels, WORK: str(work)},
            volumes={volume: {"bind": HOME, "mode": "ro"}, str(tmp): {"bind": "/out", "mode": "rw"}})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    reader = Reader(helper, tmp)
    try:
        helper.start()
    except BaseException:
        reader.close()
        raise
    return reader


@contextlib.contextmanager
def home_stream(client: docker.DockerClient, volume: str, image: str, labels: dict, work: Path,
                reader: Reader | None = None):
    """The chunks of the tar archive of a home volume (entries `jovyan/…`, as `docker cp` makes them), read
    while they are sent; also while a server runs on it (a snapshot: files written meanwhile may be half
    old). The chunks raise instead of ending if tar failed, so a receiver never takes a partial home for a
    whole one. `reader`: the volume's helper if it was started already (start_reader), else one is started;
    it is removed at the end either way. `work`: a directory of ours for the FIFOs."""
    reader = reader or start_reader(client, volume, image, labels, work)
    try:
        def chunks():
            _write_fifo(reader.folder / "go", reader.helper, [b"go\n"])
            yield from _read_fifo(reader.folder / "home.tar", reader.helper)
            status = _outcome(reader.folder / "status", reader.helper)
            code = int(status) if status and status.strip().isdigit() else \
                reader.helper.wait(timeout=PATIENCE).get("StatusCode")
            if code not in (0, 1):  # 1: a file changed while tar read it (a running server's snapshot)
                said = reader.helper.logs(tail=3).decode(errors="replace").strip()
                raise LocalhubError(f"Archiving the home failed (tar exit {code}): {said}")

        yield chunks()
    finally:
        reader.close()


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
            _write_fifo(fifo, helper, chunks)
            ok = True
        except BrokenPipeError:  # tar stopped reading: its own words say why
            pass
        finally:  # also when `chunks` raised: the helper then ends without swapping
            swapping = time.monotonic()
            (Path(tmp) / "verdict.part").write_text("ok\n" if ok else "no\n")
            (Path(tmp) / "verdict.part").replace(verdict)
        if _outcome(Path(tmp) / "outcome", helper) == "swapped\n":
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


def sweep(client: docker.DockerClient, work: Path) -> int:
    """Remove what transfers through `work` left behind when their process was killed (kill -9, a power cut):
    their helper containers (labelled with `work`; a killed daemon never removes them) and their FIFO
    directories. Only when no transfer through `work` can be running: when the daemon starts. A half-unpacked
    home inside a volume goes with the next restore into that volume (SWAP). Returns what was removed."""
    removed = 0
    for helper in client.containers.list(all=True, filters={"label": f"{WORK}={work}"}, ignore_removed=True):
        with contextlib.suppress(docker.errors.NotFound):
            helper.remove(force=True)
            removed += 1
    for left in [*work.glob("home-in-*"), *work.glob("home-out-*"), *work.glob("tmp*")]:
        if left.is_dir():
            shutil.rmtree(left, ignore_errors=True)
            removed += 1
    return removed


def restore_home(client: docker.DockerClient, volume: str, image: str, archive: Path, labels: dict) -> None:
    """Make `volume` hold exactly the archive's home: files removed since are removed here too.

    A short-lived container of the server's own image (it has sh, find and tar) does it, with no network, as
    root so that owners and modes are kept; the archive is mounted read-only.
    """
    script = (f"find {HOME} -mindepth 1 -delete && "
              f"tar -x -p -f /incoming/{archive.name} -C {HOME} --strip-components=1 --numeric-owner")
    helper = client.containers.run(
        image, entrypoint=["sh", "-c", script], user="0", network_mode="none", labels=labels, detach=True,
        volumes={volume: {"bind": HOME, "mode": "rw"}, str(archive.parent): {"bind": "/incoming", "mode": "ro"}})
    try:
        code = helper.wait(timeout=600).get("StatusCode")
        if code != 0:
            said = helper.logs(tail=5).decode(errors="replace").strip()
            raise LocalhubError(f"Restoring the home into volume {volume} failed (exit {code}): {said}")
    finally:
        helper.remove(force=True)


def ensure_volume(client: docker.DockerClient, name: str, labels: dict) -> None:
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        client.volumes.create(name, labels=labels)
