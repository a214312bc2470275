"""A home going out as a stream: the helper that archives a home volume (started ahead, while its server
stops) and the checked chunks of its tar archive."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker

from ...errors import LocalhubError
from .archives import HOME, PATIENCE
from .tar_helpers import WORK, outcome, read_fifo, remove_helper, write_fifo


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
            write_fifo(reader.folder / "go", reader.helper, [b"go\n"])
            yield from read_fifo(reader.folder / "home.tar", reader.helper)
            status = outcome(reader.folder / "status", reader.helper)
            code = int(status) if status and status.strip().isdigit() else \
                reader.helper.wait(timeout=PATIENCE).get("StatusCode")
            if code not in (0, 1):  # 1: a file changed while tar read it (a running server's snapshot)
                said = reader.helper.logs(tail=3).decode(errors="replace").strip()
                raise LocalhubError(f"Archiving the home failed (tar exit {code}): {said}")

        yield chunks()
    finally:
        reader.close()


