"""This machine's store of compressed layers ("blobs") and image configs, addressed by hash.

A blob is a layer's tar compressed with zstd; the engine loads it as it is (dockerd decompresses zstd
layers itself), so a blob is never expanded on our side. Each blob is described by a small record: the
layer's diff id, the blob's SHA-256 and size, the layer's raw size, and the SHA-256 of every 4 MiB chunk
(so a transfer from several laptops can check each chunk as it arrives and resume where it stopped).

The store is a cache (everything in it can be made again from the engine), so it lives in the user's cache
dir and is shared by every hub of the user: `~/.cache/localhub/blobs/` (XDG_CACHE_HOME honoured). One file
per thing, written by rename, so readers never see half of one and no two writers share a file:
    <blob sha256>.zst          the compressed layer
    <diff id hex>.json         its record
    configs/<image id hex>.json  image configs, byte for byte (their hash is the image id)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs
import zstandard

CHUNK = 4 << 20
BUFFER = 1 << 20
LEVEL = 3


def default_root() -> Path:
    return Path(platformdirs.user_cache_dir("localhub")) / "blobs"


@dataclass(frozen=True)
class Blob:
    diff_id: str  # sha256:… of the uncompressed layer tar
    sha256: str  # hex, of the compressed bytes
    size: int
    raw_size: int
    chunks: tuple[str, ...]  # sha256 hex of each CHUNK-sized piece of the compressed bytes

    def to_dict(self) -> dict:
        return {**asdict(self), "chunks": list(self.chunks)}

    @classmethod
    def from_dict(cls, data: dict) -> "Blob":
        return cls(str(data["diff_id"]), str(data["sha256"]), int(data["size"]), int(data["raw_size"]),
                   tuple(str(c) for c in data["chunks"]))

    @property
    def chunk_count(self) -> int:
        return len(self.chunks)

    def chunk_range(self, index: int) -> tuple[int, int]:
        """(offset, length) of chunk `index` in the blob."""
        start = index * CHUNK
        return start, min(CHUNK, self.size - start)


class _ChunkHashing:
    """A write-only file that hashes what it writes, whole and per chunk."""

    def __init__(self, fh):
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0
        self.chunks: list[str] = []
        self._chunk, self._in_chunk = hashlib.sha256(), 0

    def write(self, data) -> int:
        view = memoryview(data)
        self.fh.write(view)
        self.sha.update(view)
        self.size += len(view)
        while len(view):
            take = min(CHUNK - self._in_chunk, len(view))
            self._chunk.update(view[:take])
            self._in_chunk += take
            view = view[take:]
            if self._in_chunk == CHUNK:
                self.chunks.append(self._chunk.hexdigest())
                self._chunk, self._in_chunk = hashlib.sha256(), 0
        return len(data)

    def flush(self) -> None:
        self.fh.flush()

    def done(self) -> list[str]:
        if self._in_chunk:
            self.chunks.append(self._chunk.hexdigest())
            self._chunk, self._in_chunk = hashlib.sha256(), 0
        return self.chunks


def chunk_hashes(path: Path) -> tuple[str, list[str]]:
    """(whole SHA-256, chunk SHA-256s) of a file."""
    with open(path, "rb") as fh:
        hashing = _ChunkHashing(open(os.devnull, "wb"))
        while data := fh.read(BUFFER):
            hashing.write(data)
        hashing.fh.close()
        return hashing.sha.hexdigest(), hashing.done()


class BlobStore:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.configs = self.root / "configs"

    def _prepare(self) -> None:
        self.configs.mkdir(parents=True, exist_ok=True)

    def path(self, blob: Blob) -> Path:
        return self.root / f"{blob.sha256}.zst"

    def get(self, diff_id: str) -> Blob | None:
        """The blob of this layer, if its record and its complete file are here."""
        try:
            blob = Blob.from_dict(json.loads((self.root / f"{diff_id.removeprefix('sha256:')}.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            if self.path(blob).stat().st_size != blob.size:
                return None
        except OSError:
            return None
        return blob

    def all(self) -> list[Blob]:
        found = []
        for record in self.root.glob("*.json"):
            blob = self.get("sha256:" + record.stem)
            if blob is not None:
                found.append(blob)
        return found

    def known_raw_sizes(self) -> dict[int, list[Blob]]:
        sizes: dict[int, list[Blob]] = {}
        for blob in self.all():
            sizes.setdefault(blob.raw_size, []).append(blob)
        return sizes

    def add_layer(self, source, raw_size: int, known: dict[int, list[Blob]], on_bytes=None) -> Blob:
        """A layer tar of `raw_size` bytes into the store. A layer of a size the store already holds is hashed
        first (into a spool file) and compressed only if it is new: saving an image whose base is in the
        store costs reading the base, not compressing it again."""
        if raw_size not in known:
            return self.compress(source, on_bytes, raw_size)
        self._prepare()
        spool = self.root / f".spool-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            diff = hashlib.sha256()
            with open(spool, "wb") as out:
                while data := source.read(BUFFER):
                    diff.update(data)
                    out.write(data)
                    if on_bytes:
                        on_bytes(len(data))
            existing = self.get("sha256:" + diff.hexdigest())
            if existing is not None:
                return existing
            with open(spool, "rb") as again:
                return self.compress(again, None, raw_size)
        finally:
            spool.unlink(missing_ok=True)

    def compress(self, source, on_bytes=None, raw_size: int | None = None) -> Blob:
        """Compress a layer tar read from `source` into the store; returns its blob (the layer's diff id is
        computed from the bytes read)."""
        self._prepare()
        tmp = self.root / f".incoming-{os.getpid()}-{secrets.token_hex(4)}"
        diff = hashlib.sha256()
        raw = 0
        try:
            with open(tmp, "wb") as fh:
                out = _ChunkHashing(fh)
                compressor = zstandard.ZstdCompressor(level=LEVEL, threads=-1, write_content_size=True)
                with compressor.stream_writer(out, size=raw_size if raw_size is not None else -1,
                                              closefd=False) as writer:
                    while data := source.read(BUFFER):
                        diff.update(data)
                        raw += len(data)
                        writer.write(data)
                        if on_bytes:
                            on_bytes(len(data))
                chunks = out.done()
            blob = Blob("sha256:" + diff.hexdigest(), out.sha.hexdigest(), out.size, raw, tuple(chunks))
            return self.put(blob, tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, blob: Blob, source: Path) -> Blob:
        """Move a complete blob file (already checked against `blob`) into the store, then its record."""
        self._prepare()
        existing = self.get(blob.diff_id)
        if existing is not None:
            return existing  # the same layer compressed earlier: keep the one others may already know
        os.replace(source, self.path(blob))
        record = self.root / f"{blob.diff_id.removeprefix('sha256:')}.json"
        tmp = record.with_name(f".{record.name}.{os.getpid()}")
        tmp.write_text(json.dumps(blob.to_dict()))
        os.replace(tmp, record)
        return blob

    # --- image configs -----------------------------------------------------------------------------
    def config(self, image_id: str) -> bytes | None:
        try:
            data = (self.configs / f"{image_id.removeprefix('sha256:')}.json").read_bytes()
        except OSError:
            return None
        return data if "sha256:" + hashlib.sha256(data).hexdigest() == image_id else None

    def put_config(self, data: bytes) -> str:
        self._prepare()
        image_id = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.configs / f"{image_id.removeprefix('sha256:')}.json"
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return image_id
