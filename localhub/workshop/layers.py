"""Images in and out of the Docker engine, layer by layer.

Out (`export`): one `docker save` of all the images that are not in the blob store yet, read as a stream;
each layer is compressed into the store as it passes (a layer shared by several images is saved once), and
each config is kept byte for byte.

In (`load`): the engine is asked which layers it has (by chain id, as it stores them); a `docker load`
archive is then made on the fly from the configs and only the missing layers, each blob decompressed as it
is sent (Docker 20.10 reads gzip layers but not zstd ones), and streamed to the engine. The image list inside that archive comes last, after every
layer passed its hash check, and a bad byte aborts the upload: the engine then keeps nothing of it. Names
this load set are taken back if it fails half-way.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import docker
import docker.errors
import zstandard

from ..errors import LocalhubError, shown
from ..read_ahead import read_ahead
from .blobs import BUFFER, Blob, BlobStore


class EngineRefused(LocalhubError):
    """The engine would not load the images (full disk, bad archive); the sentence says what it said."""


def chain_ids(diff_ids: list[str] | tuple[str, ...]) -> list[str]:
    """The engine's id for each prefix of an image's layers (OCI image spec: ChainID)."""
    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(diff_id if not chains else
                      "sha256:" + hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest())
    return chains


def present_chains(client: docker.DockerClient) -> set[str]:
    """Chain ids of every layer stack the engine holds (every prefix of every image's layers)."""
    found: set[str] = set()
    for summary in client.api.images(all=True):
        try:
            layers = client.api.inspect_image(summary["Id"])["RootFS"].get("Layers") or []
        except docker.errors.NotFound:
            continue  # removed while we looked
        found.update(chain_ids(layers))
    return found


def image_layers(client: docker.DockerClient, name: str) -> tuple[str, list[str]]:
    """(image id, diff ids) of an image in the engine."""
    attrs = client.api.inspect_image(name)
    return attrs["Id"], list(attrs["RootFS"].get("Layers") or [])


# --- out -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Exported:
    id: str
    names: tuple[str, ...]
    layers: tuple[Blob, ...]


def export(client: docker.DockerClient, names: list[str], store: BlobStore,
           on_bytes: Callable[[int], None] | None = None) -> list[Exported]:
    """Every image in `names` with its layers as blobs in `store` (saved from the engine only when some
    layer or the config is not in the store yet)."""
    wanted = {name: image_layers(client, name) for name in names}
    missing = [name for name, (image_id, diffs) in wanted.items()
               if store.config(image_id) is None or any(store.get(d) is None for d in diffs)]
    if missing:
        _save_into(client, missing, store, on_bytes)
    result = []
    for name, (image_id, diffs) in wanted.items():
        blobs = tuple(store.get(d) for d in diffs)
        if store.config(image_id) is None or None in blobs:
            raise LocalhubError(f"The engine's archive of {shown(name)} lacked part of it; try again.")
        result.append(Exported(image_id, (name,), blobs))  # type: ignore[arg-type]
    return result


def save_size(client: docker.DockerClient, names: list[str]) -> int:
    """Roughly what `docker save` of these images writes (shared layers counted once): for progress."""
    seen: dict[str, int] = {}
    for name in names:
        attrs = client.api.inspect_image(name)
        seen[attrs["Id"]] = attrs.get("Size") or 0
    return sum(seen.values())


def _save_into(client: docker.DockerClient, names: list[str], store: BlobStore, on_bytes) -> None:
    response = client.api.get(client.api._url("/images/get"), params={"names": names}, stream=True)
    client.api._raise_for_status(response)
    response.raw.decode_content = True
    known = store.known_raw_sizes()
    with tarfile.open(fileobj=response.raw, mode="r|") as archive:
        for member in archive:
            if member.name.endswith("/layer.tar"):
                if not member.isfile():
                    continue  # the same layer again, as a link to its first copy
                blob = store.add_layer(archive.extractfile(member), member.size, known, on_bytes)
                known.setdefault(blob.raw_size, []).append(blob)
            elif member.isfile() and member.name.endswith(".json") and "/" not in member.name \
                    and member.name != "manifest.json":
                store.put_config(archive.extractfile(member).read())
    response.close()


# --- in --------------------------------------------------------------------------------------------

@dataclass
class ToLoad:
    """An image to load: its config (bytes, hash already checked) and, per layer, how to read its blob."""

    id: str
    names: tuple[str, ...]
    config: bytes
    layers: list[tuple[str, int, int, Callable[[], object]]]  # (diff id, blob size, raw size, open() -> stream)


@dataclass
class Loaded:
    images: list[str]  # ids loaded now
    present: list[str]  # ids that were here already
    layers_sent: int
    layers_skipped: int
    bytes_sent: int
    bytes_skipped: int


def plan(images: list[ToLoad], present: set[str], have_ids: set[str]) -> tuple[list[ToLoad], dict[str, int]]:
    """(images to send, {diff id: size} of the layers to send): images the engine has are left out, and a
    layer is sent once, only if the engine lacks its stack."""
    todo, send = [], {}
    for image in images:
        if image.id in have_ids:
            continue
        todo.append(image)
        for (diff_id, size, _, _), chain in zip(image.layers, chain_ids([d for d, *_ in image.layers])):
            if chain not in present:
                send.setdefault(diff_id, size)
    return todo, send


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def _archive(todo: list[ToLoad], send: dict[str, int], on_bytes) -> Iterator[bytes]:
    """The `docker load` archive, made as it is sent: configs, missing layers, then the image list."""
    sent: set[str] = set()
    entries = []
    for image in todo:
        config_name = f"{image.id.removeprefix('sha256:')}.json"
        yield _header(config_name, len(image.config)) + image.config + _pad(len(image.config))
        paths = []
        for diff_id, size, raw_size, opener in image.layers:
            path = f"{diff_id.removeprefix('sha256:')}/layer.tar"
            paths.append(path)
            if diff_id not in send or diff_id in sent:
                continue
            sent.add(diff_id)
            yield _header(path, raw_size)
            yield from _expanded(diff_id, size, raw_size, opener, on_bytes)
            yield _pad(raw_size)
        entries.append({"Config": config_name, "RepoTags": list(image.names), "Layers": paths})
    listing = json.dumps(entries).encode()
    yield _header("manifest.json", len(listing)) + listing + _pad(len(listing))
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


class _Counting:
    """The compressed stream, counted for progress as the decompressor reads it."""

    def __init__(self, stream, on_bytes):
        self.stream, self.on_bytes = stream, on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        if self.on_bytes and data:
            self.on_bytes(len(data))
        return data


def _expanded(diff_id: str, size: int, raw_size: int, opener, on_bytes) -> Iterator[bytes]:
    """A layer's tar, decompressed from its blob; the blob must be read to its very end, so that a stream
    that checks its hash there (bundlefile.PartStream) has checked it before the last bytes go out."""
    stream = opener()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(_Counting(stream, on_bytes), read_size=BUFFER,
                                                           read_across_frames=True, closefd=False)
        left = raw_size
        pending = b""
        while True:
            data = reader.read(BUFFER)
            if not data:
                break
            if len(data) > left:
                raise LocalhubError(f"layer {diff_id[:19]} is longer than its record says")
            left -= len(data)
            if pending:
                yield pending
            pending = data
        while stream.read(BUFFER):  # trailing bytes after the frame: read them so the hash check runs
            pass
        if left:
            raise LocalhubError(f"layer {diff_id[:19]} is shorter than its record says")
        yield pending  # held back until the whole blob was read (and its hash checked)
    except zstandard.ZstdError as err:
        raise LocalhubError(f"layer {diff_id[:19]} cannot be decompressed ({err})") from None
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()


def load(client: docker.DockerClient, images: list[ToLoad], on_bytes: Callable[[int], None] | None = None,
         on_plan: Callable[[int, int], None] | None = None) -> Loaded:
    """Load `images` into the engine, sending only what it lacks. `on_plan(bytes to send, bytes skipped)` is
    called once before sending. On any failure the names this load set are removed again."""
    for image in images:
        if "sha256:" + hashlib.sha256(image.config).hexdigest() != image.id:
            raise LocalhubError(f"The config of image {image.id[:19]} does not match its id.")
    have_ids = {i["Id"] for i in client.api.images(all=True)}
    present = present_chains(client)
    todo, send = plan(images, present, have_ids)
    total = {d: s for image in images for d, s, _, _ in image.layers}
    skipped = sum(s for d, s in total.items() if d not in send)
    if on_plan:
        on_plan(sum(send.values()), skipped)
    before = {name: _image_id(client, name) for image in images for name in image.names}
    try:
        if todo:
            # the archive is read, hashed and decompressed on a thread of its own while the socket sends the last
            # bytes, instead of taking turns with it
            archive = read_ahead(_archive(todo, send, on_bytes), depth=8, name="layers-read-ahead")
            for line in client.api.load_image(archive):
                if isinstance(line, dict) and line.get("error"):
                    raise EngineRefused(f"The Docker engine refused the images: {line['error'].strip()}")
        for image in images:
            for name in image.names:
                if _image_id(client, name) != image.id:
                    repository, _, tag = name.rpartition(":")
                    client.api.tag(image.id, repository, tag)
                if _image_id(client, name) != image.id:
                    raise EngineRefused(f"The engine did not take {shown(name)} as image {image.id[:19]}.")
    except docker.errors.APIError as err:
        _take_back(client, images, before)
        raise EngineRefused(f"The Docker engine refused the images: {err.explanation or err}") from None
    except BaseException:
        _take_back(client, images, before)
        raise
    return Loaded(images=[i.id for i in todo], present=[i.id for i in images if i.id in have_ids],
                  layers_sent=len(send), layers_skipped=len(total) - len(send), bytes_sent=sum(send.values()),
                  bytes_skipped=skipped)


def _image_id(client: docker.DockerClient, name: str) -> str | None:
    try:
        return client.api.inspect_image(name)["Id"]
    except docker.errors.NotFound:
        return None


def _take_back(client: docker.DockerClient, images: list[ToLoad], before: dict[str, str | None]) -> None:
    """Undo what a failed load did to names: untag what it added, point moved names back."""
    for image in images:
        for name in image.names:
            now = _image_id(client, name)
            if now == before.get(name) or now is None:
                continue
            try:
                if before.get(name):
                    repository, _, tag = name.rpartition(":")
                    client.api.tag(before[name], repository, tag)
                else:
                    client.api.remove_image(name, noprune=False)
            except docker.errors.APIError:
                pass
