"""A content hash of a directory tree (names, exec bits, symlink targets, file bytes), for directories without git."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import ResolveError, URL_LIMIT, shown

SKIPPED = frozenset({".git"})
_CHUNK = 1 << 20


def tree_hash(root: Path) -> str:
    """`sha256-<hex>`: equal for equal trees, different as soon as a name, mode bit or byte changes."""
    digest = hashlib.sha256()
    try:
        for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
            rel_dir = os.path.relpath(dirpath, root)
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.normpath(os.path.join(rel_dir, name)).encode("utf-8", "surrogateescape")
                info = os.lstat(full)
                if stat.S_ISLNK(info.st_mode):
                    _add(digest, b"L", rel, os.readlink(full).encode("utf-8", "surrogateescape"))
                elif stat.S_ISDIR(info.st_mode):
                    _add(digest, b"D", rel)
                elif stat.S_ISREG(info.st_mode):
                    executable = b"x" if info.st_mode & stat.S_IXUSR else b"-"
                    _add(digest, b"F", rel, executable, _file_digest(full))
    except OSError as err:
        raise ResolveError(f"Cannot read {shown(err.filename or root, URL_LIMIT)} to hash it: {shown(err.strerror or err)}.") from None
    return "sha256-" + digest.hexdigest()


def _add(digest: Any, *fields: bytes) -> None:
    for field in fields:
        digest.update(len(field).to_bytes(8, "big"))
        digest.update(field)


def _file_digest(path: str) -> bytes:
    file_digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            file_digest.update(chunk)
    return file_digest.digest()


def _raise(err: OSError) -> None:
    raise err
