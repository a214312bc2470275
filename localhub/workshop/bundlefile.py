"""The bundle file: a tar archive of parts (layers and repositories compressed with zstd, image configs,
the installer's wheels and script), with the manifest written last.

Writing goes to a hidden file beside the target that is renamed into place only when the manifest is in,
so a bundle that exists is complete. Because the manifest comes last, a copy cut short lacks it and is
refused as such; a part whose bytes changed is refused by its SHA-256, naming the part. Parts are plain tar
members, so `tar -xf course.lhb installer/` works on a laptop that has nothing else yet.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import LocalhubError, shown
from .manifest import MANIFEST, MANIFEST_SUM, Manifest, ManifestError, Part

BUFFER = 1 << 20


class BundleError(LocalhubError):
    """The bundle cannot be used; the sentence names the file and, where one is at fault, the part."""


class PartDamaged(BundleError):
    def __init__(self, bundle: Path, part: str, why: str):
        self.part = part
        super().__init__(f"{shown(bundle.name)} is damaged: part {part} {why}; nothing from it was kept. "
                         "Copy the bundle again (or `localhub bundle inspect --verify` it).")


class _Hashing(io.RawIOBase):
    """Reads from `source`, hashing what passes and counting it for `on_bytes`."""

    def __init__(self, source, on_bytes: Callable[[int], None] | None = None):
        self.source, self.on_bytes, self.sha, self.count = source, on_bytes, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        self.sha.update(data)
        self.count += len(data)
        if self.on_bytes and data:
            self.on_bytes(len(data))
        return data


class BundleWriter:
    """`add_file`/`add_bytes` each part, then `finish(manifest)`; `abort()` (or an exception inside a `with`)
    removes the half-written file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        self._fh = open(self.tmp, "wb")
        self._tar = tarfile.open(fileobj=self._fh, mode="w", format=tarfile.PAX_FORMAT)
        self.parts: dict[str, Part] = {}

    def __enter__(self) -> "BundleWriter":
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            self.abort()

    def _member(self, name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, mode, int(time.time())
        return info

    def add_file(self, name: str, source: Path, kind: str, on_bytes: Callable[[int], None] | None = None,
                 mode: int = 0o644, **extra) -> Part:
        size = os.path.getsize(source)
        with open(source, "rb") as fh:
            hashing = _Hashing(fh, on_bytes)
            self._tar.addfile(self._member(name, size, mode), hashing)
        part = Part(name, kind, hashing.sha.hexdigest(), size, **extra)
        self.parts[name] = part
        return part

    def add_bytes(self, name: str, data: bytes, kind: str, mode: int = 0o644) -> Part:
        self._tar.addfile(self._member(name, len(data), mode), io.BytesIO(data))
        part = Part(name, kind, hashlib.sha256(data).hexdigest(), len(data))
        self.parts[name] = part
        return part

    def finish(self, manifest: Manifest) -> Path:
        manifest.parts = dict(self.parts)
        manifest.check()
        text = manifest.to_json().encode()
        self._tar.addfile(self._member(MANIFEST, len(text)), io.BytesIO(text))
        digest = (hashlib.sha256(text).hexdigest() + "\n").encode()
        self._tar.addfile(self._member(MANIFEST_SUM, len(digest)), io.BytesIO(digest))
        self._tar.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._tar.close()
        except Exception:  # a half-written archive may not close cleanly; it is removed anyway
            pass
        self._fh.close()
        self.tmp.unlink(missing_ok=True)


class BundleReader:
    """Opens a bundle, reads and checks its manifest; `open(part)` gives a stream that checks the part's hash
    as it is read and raises PartDamaged at its end when the bytes differ."""

    def __init__(self, path: Path):
        self.path = Path(path)
        name = shown(self.path.name)
        try:
            self._fh = open(self.path, "rb")
        except FileNotFoundError:
            raise BundleError(f"There is no bundle {shown(self.path)}.") from None
        except IsADirectoryError:
            raise BundleError(f"{shown(self.path)} is a folder, not a bundle file.") from None
        except OSError as err:
            raise BundleError(f"Cannot read {shown(self.path)} ({err.strerror}).") from None
        self.file_size = os.fstat(self._fh.fileno()).st_size
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            tar = tarfile.open(fileobj=self._fh, mode="r:")
        except tarfile.TarError:
            self.close()
            raise BundleError(f"{name} is not a localhub bundle (not a tar archive, or empty).") from None
        last = None
        try:
            while (member := tar.next()) is not None:
                self.members[member.name] = member
                last = member
        except tarfile.TarError:
            pass  # cut short inside a header: whatever came before is still listed
        if MANIFEST not in self.members or MANIFEST_SUM not in self.members:
            stopped = tar.offset
            self.close()
            cut = stopped + tarfile.BLOCKSIZE > self.file_size or \
                (last is not None and last.offset_data + last.size > self.file_size)
            # tar stops at a header it cannot read as if the archive ended there: tell that from the end
            if not cut and self._data_after(stopped):
                last = last.name if last is not None else "the start"
                raise BundleError(f"{name} is damaged: the part after {last} has an unreadable "
                                  "header; copy the bundle again.")
            raise BundleError(f"{name} has no manifest: it is cut short (the manifest is written last; copy the "
                              f"bundle again) or it is not a localhub bundle.")
        text = self._read_member(MANIFEST)
        recorded = self._read_member(MANIFEST_SUM).decode(errors="replace").strip()
        if hashlib.sha256(text).hexdigest() != recorded:
            self.close()
            raise BundleError(f"{name} is damaged: its manifest does not match its recorded hash; copy the "
                              "bundle again.")
        try:
            self.manifest = Manifest.from_json(text)
        except ManifestError as err:
            self.close()
            raise BundleError(f"{name} cannot be read: {err}.") from None
        self.id = recorded[:16]  # a bundle's identity: the hash of its manifest
        for part in self.manifest.parts.values():
            member = self.members.get(part.path)
            if member is None:
                self.close()
                raise BundleError(f"{name} is incomplete: part {part.path} is missing; copy the bundle again.")
            if member.size != part.size or member.offset_data + part.size > self.file_size:
                self.close()
                raise BundleError(f"{name} is cut short or damaged: part {part.path} holds "
                                  f"{min(member.size, max(0, self.file_size - member.offset_data))} bytes, not "
                                  f"{part.size}; copy the bundle again.")

    def _data_after(self, offset: int) -> bool:
        """Whether anything but the end-of-archive zeros follows `offset`."""
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            while block := fh.read(BUFFER):
                if block.strip(b"\0"):
                    return True
        return False

    def _read_member(self, name: str) -> bytes:
        member = self.members[name]
        self._fh.seek(member.offset_data)
        return self._fh.read(member.size)

    def open(self, path: str, on_bytes: Callable[[int], None] | None = None) -> "PartStream":
        return PartStream(self, self.manifest.parts[path], on_bytes)

    def read(self, path: str) -> bytes:
        with self.open(path) as stream:
            return stream.read_all()

    def verify(self, on_bytes: Callable[[int], None] | None = None) -> None:
        """Read every part and check its hash (PartDamaged names the first bad one)."""
        for path in self.manifest.parts:
            with self.open(path, on_bytes) as stream:
                while stream.read(BUFFER):
                    pass

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "BundleReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PartStream:
    """One part's bytes, read with its own file handle (several may be open at once)."""

    def __init__(self, reader: BundleReader, part: Part, on_bytes: Callable[[int], None] | None = None):
        self.reader, self.part, self.on_bytes = reader, part, on_bytes
        self._fh = open(reader.path, "rb")
        self._fh.seek(reader.members[part.path].offset_data)
        self.left = part.size
        self.sha = hashlib.sha256()

    def read(self, n: int = BUFFER) -> bytes:
        if self.left <= 0:
            return b""
        data = self._fh.read(min(n, self.left))
        if not data:
            raise PartDamaged(self.reader.path, self.part.path, "ends early (the file was cut short)")
        self.left -= len(data)
        self.sha.update(data)
        if self.on_bytes:
            self.on_bytes(len(data))
        if self.left == 0 and self.sha.hexdigest() != self.part.sha256:
            raise PartDamaged(self.reader.path, self.part.path, "does not match its SHA-256 in the manifest")
        return data

    def read_all(self) -> bytes:
        chunks = []
        while chunk := self.read():
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "PartStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
