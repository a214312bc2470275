"""Moving a server between engines: images saved and loaded, homes archived and restored.

Images, and homes going out to a peer, cross the network as a whole file on disk whose SHA-256 is known, so
they are signed before they are sent and checked before they are used. A home coming back is streamed
instead (stream.py: the hash is signed in a trailer) and unpacked while it arrives into a fresh directory
inside its volume; only once the trailer checks out are the old files moved aside and the new ones moved in
(renames, in a moment), so a transfer cut half-way or altered on the way leaves the old home as it was,
never a half-restored one. Homes are plain tar archives of /home/jovyan, as `docker cp` makes them (owners,
modes and times kept).

This module holds the archives that are whole files (images, and homes going out to a peer); a home streamed
out is home_reader.py's, one streamed back home_swap.py's, both through tar_helpers.py's helper containers.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from ...errors import LocalhubError

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
