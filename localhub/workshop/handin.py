"""Handing in work: a participant's file or folder travels from their server's home to the teacher, who
keeps a folder per participant with one timestamped folder per hand-in:

    <state>/workshop/handins/<participant>/<YYYY-mm-ddTHH-MM-SSZ>/<what was handed in>
                                                                  handin.json (who, from which laptop, when, size)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import zstandard

from ..errors import LocalhubError
from .classcode import participant_name

MAX_UNPACKED = 1 << 30


def pack(archive: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=6).compress(archive)


class Handins:
    def __init__(self, state_root: Path):
        self.root = Path(state_root) / "workshop" / "handins"

    def receive(self, name: str, path: str, node: str, body: bytes) -> dict:
        """Keep a hand-in (raises ValueError, in words, for what cannot be kept)."""
        try:
            who = participant_name(name)
        except LocalhubError as err:
            raise ValueError(str(err)) from None
        try:
            raw = zstandard.ZstdDecompressor().decompress(body, max_output_size=MAX_UNPACKED)
        except zstandard.ZstdError as err:
            raise ValueError(f"the hand-in is not a compressed archive ({err})") from None
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
        folder = self.root / re.sub(r"[^\w.-]+", "_", who) / stamp
        tmp = folder.with_name(f".{stamp}.incoming")
        tmp.mkdir(parents=True)
        try:
            with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                tar.extractall(tmp, filter="data")  # no absolute paths, no '..', no links out, no devices
            files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
            record = {"name": who, "path": path, "node": node, "at": dt.datetime.now(dt.timezone.utc).isoformat(),
                      "bytes": len(raw), "files": files}
            (tmp / "handin.json").write_text(json.dumps(record, indent=1))
            tmp.rename(folder)
        except (tarfile.TarError, OSError) as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ValueError(f"the hand-in could not be unpacked ({err})") from None
        return {**record, "stored": folder.relative_to(self.root).as_posix()}

    def list(self) -> list[dict]:
        found = []
        for record in sorted(self.root.glob("*/*/handin.json")):
            try:
                found.append({**json.loads(record.read_text()),
                              "stored": record.parent.relative_to(self.root).as_posix()})
            except (OSError, ValueError):
                continue
        return found

    def collect(self, dest: Path) -> int:
        """Copy every hand-in to `dest/<participant>/<timestamp>/`; returns how many."""
        count = 0
        for item in self.list():
            target = Path(dest) / item["stored"]
            if not target.exists():
                shutil.copytree(self.root / item["stored"], target)
            count += 1
        return count
