"""The short-lived helper containers that read or write a streamed home with GNU tar, and the FIFOs between
them and the daemon (home_reader.py sends a home out through them, home_swap.py takes one back).

A home coming back or going out as a stream is read and written by GNU tar in a short-lived container of the
server's own image (as root, no network), through a FIFO in a directory of ours bound into it: the engine's
own archive API (`docker cp`) moves about a fifth as many bytes per second. Like archives.restore_home, this
needs the engine to see this desktop's files (a local engine).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import shutil
import time
from pathlib import Path

import docker
import docker.errors

from ...errors import LocalhubError
from .archives import CHUNK, PATIENCE

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


def exited(helper) -> bool:
    helper.reload()
    return helper.status in ("exited", "dead")


def read_fifo(path: Path, helper):
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
                if exited(helper):
                    break
                continue
            try:
                data = os.read(fd, PIPE_SIZE)
            except BlockingIOError:
                continue
            if not data:  # the writer closed it
                if opened or exited(helper):
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


def write_fifo(path: Path, helper, chunks) -> None:
    """Write `chunks` into the FIFO the helper reads; LocalhubError if the helper ends before it opens it."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as err:
            if err.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            if exited(helper):
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


def outcome(path: Path, helper) -> str | None:
    """What the helper's script writes at `path` once its work is done (one line, ending in a newline: read
    only once whole), or None if the helper ends without writing it. Read as soon as it is there: the
    container's own end (the engine's teardown) comes 0.1-0.5 s later here."""
    deadline, polls = time.monotonic() + PATIENCE, 0
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            if (said := path.read_text()).endswith("\n"):
                return said
        polls += 1
        if polls % 100 == 0 and exited(helper):  # about every half second
            with contextlib.suppress(FileNotFoundError):
                return path.read_text()
            return None
        time.sleep(0.005)
    return None


def sweep(client: docker.DockerClient, work: Path) -> int:
    """Remove what transfers through `work` left behind when their process was killed (kill -9, a power cut):
    their helper containers (labelled with `work`; a killed daemon never removes them) and their FIFO
    directories. Only when no transfer through `work` can be running: when the daemon starts. A half-unpacked
    home inside a volume goes with the next restore into that volume (home_swap.SWAP). Returns what was removed."""
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

