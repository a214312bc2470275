"""What travels between this hub and a peer's agent: the image out (unless the peer has it), the home out,
and the home back into a local volume.

The image and a home going out are each a whole, hashed file on disk first (archives.py), streamed over the
agent's HTTPS and used only once its hash checks out. A home coming back is unpacked while it arrives and
swapped in only once the peer's signed trailer vouches for every byte (stream.py); the connection it comes on
is switched from HTTP to the stream itself (client.receive_home). One move of a guest's home at a time: a
sync and a journey home of the same guest wait for each other. What a killed daemon's transfers left behind
is swept when the daemon starts again (`sweep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import docker
import docker.errors

from ...errors import LocalhubError
from ..trust.keys import pool_dir
from .archives import Archive, archive_volume_home, image_id, save_image
from .home_swap import restore_home_stream
from .tar_helpers import WORK, sweep
from .client import PeerAddress, PeerClient

log = logging.getLogger("localhub.pool.away.transfer")


class Transfer:
    def __init__(self, state_dir: Path, docker_client: docker.DockerClient, client: PeerClient,
                 labels: dict | None = None):
        self.docker, self.client = docker_client, client
        self.work = pool_dir(state_dir) / "transfers"
        self.work.mkdir(exist_ok=True)
        self.labels = {**(labels or {}), "localhub.pool": "transfer", WORK: str(self.work)}
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # guest id -> its home's lock
        self.cleanups: dict[str, Future] = {}  # volume -> the last restore's cleanup, going on after its swap

    def sweep(self) -> None:
        """At the daemon's start: what transfers of a killed daemon left behind (tar_helpers.sweep)."""
        if self.docker is not None and (removed := sweep(self.docker, self.work)):
            log.info("removed %d helper containers and folders left by transfers of an earlier run that was "
                     "stopped abruptly", removed)

    async def _blocking(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def send_image(self, peer: PeerAddress, image: str, note) -> str:
        """Make sure the peer has the image; returns its id."""
        digest = await self._blocking(image_id, self.docker, image)
        if digest is None:
            raise LocalhubError(f"The image {image} is not on this desktop's engine.")
        if (await self.client.request(peer, "GET", f"/pool/v1/images/{digest.split(':')[1]}"))["present"]:
            note(f"The peer already has image {image}.")
            return digest
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            note(f"Packing image {image} for the peer…")
            # saved by id, so the archive carries no tag: loading it never retags an image of the peer's owner
            archive = await self._blocking(save_image, self.docker, digest, Path(tmp) / "image.tar")
            note(f"Sending image {image} ({archive.size / 1e6:.0f} MB) to the peer…")
            began = time.monotonic()
            await self.client.upload(peer, "POST", "/pool/v1/images", archive.path, archive.sha)
            note(f"Image sent and loaded in {time.monotonic() - began:.1f} s.")
        return digest

    async def send_home(self, peer: PeerAddress, guest: str, volume: str, image: str, note) -> None:
        """The home goes ahead of the guest; a new server has none yet (the peer makes it from the image)."""
        try:
            await self._blocking(self.docker.volumes.get, volume)
        except docker.errors.NotFound:
            return
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            archive = await self._blocking(archive_volume_home, self.docker, volume, image, Path(tmp) / "home.tar",
                                           self.labels)
            note(f"Sending the home ({archive.size / 1e6:.1f} MB)…")
            await self.client.upload(peer, "PUT", f"/pool/v1/guests/{guest}/home", archive.path, archive.sha)

    async def in_use(self, volume: str) -> bool:
        """Does a container of this engine use the volume (a server running here on that home)? The helper of
        a finished restore may still mount it while it removes the old files: that is no use."""
        users = await self._blocking(lambda: self.docker.containers.list(filters={"volume": volume},
                                                                                ignore_removed=True))
        return any(c.labels.get("localhub.pool") != "transfer" for c in users)

    async def settled(self) -> None:
        """Wait until what finished transfers left to do after their swap (cleanups) is done."""
        pending, self.cleanups = list(self.cleanups.values()), {}
        if pending:
            await asyncio.gather(*map(asyncio.wrap_future, pending))

    async def fetch_home(self, peer: PeerAddress, guest: str, volume: str, image: str, labels: dict) -> Archive:
        """The guest's home as the peer has it now, restored into `volume` (made with `labels` if missing) while
        it arrives; the volume is changed only if the whole home arrived and its signed trailer checks out.
        The caller holds `locks[guest]`.

        The request goes out while this engine starts the container that unpacks the home, so neither waits
        for the other (each side's container takes 0.2-0.6 s to start here)."""
        context = await self.client.pinned(peer)

        def receive() -> Archive:
            # the CPU of the whole process: the home is read and unpacked on threads besides this one
            began, cpu = time.monotonic(), time.process_time()
            if (earlier := self.cleanups.pop(volume, None)) is not None:
                earlier.result()  # the last restore into this volume has removed its old files (a moment)
            made = False
            try:
                self.docker.volumes.get(volume)
            except docker.errors.NotFound:
                self.docker.volumes.create(volume, labels={**self.labels, **labels})
                made = True
            asked = self.client.receive_home(peer, f"/pool/v1/guests/{guest}/home", context)
            last = [0.0]  # when the last archive byte came

            def ask():
                return asked.__enter__(), time.monotonic()  # the peer answers once its tar reads the home

            def chunks():
                (unframer, pieces), _ = opening.result()
                for piece in pieces:
                    yield piece
                    last[0] = time.monotonic()

            def end_request(*exc_info) -> bool:
                if opening.exception() is not None:  # never answered: nothing to close
                    return False
                return asked.__exit__(*exc_info)  # also turns a cut or altered stream into the peer's error

            try:
                with ThreadPoolExecutor(1, thread_name_prefix="home-request") as pool, ExitStack() as stack:
                    opening = pool.submit(ask)
                    stack.push(end_request)
                    restored = restore_home_stream(self.docker, volume, image, chunks(), self.labels, self.work)
            except BaseException:
                if made:  # a volume made for this home and never filled
                    with contextlib.suppress(docker.errors.APIError):
                        self.docker.volumes.get(volume).remove()
                raise
            self.cleanups[volume] = restored.cleaned
            (unframer, _), answered = opening.result()
            done = time.monotonic()
            log.info("home of guest %s from %s: %.1f MB in %.2f s from the peer's answer to swapped in (%.0f MB/s); "
                     "%.2f s in all (the peer answered after %.2f s; its last byte came %.2f s after the answer; "
                     "swapped in %.2f s after the last byte; %.2f s of CPU in this process)", guest, peer.node,
                     unframer.size / 1e6, done - answered, unframer.size / 1e6 / max(done - answered, 1e-6),
                     done - began, answered - began, last[0] - answered, restored.swap, time.process_time() - cpu)
            return Archive(None, unframer.size, unframer.sha, done - began)

        return await self._blocking(receive)
