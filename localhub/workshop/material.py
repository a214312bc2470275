"""Class material: the teacher publishes a folder; each participant's servers of the class's environments get
it in their home, in a folder of its name, merged by nbgitpuller's rules (merge.py) so that nothing a
participant changed is lost.

Under `<state>/workshop/material/`:
    teacher       v<N>.tar.zst and current.json (version, name, file list, hash)
    participant   received.tar.zst and received.json (the teacher's current.json), and given/<server>.json
                  (the version and file list each server's home got last: the base of the next merge)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
from pathlib import Path

import zstandard

from ..errors import LocalhubError, shown
from .homes import Home
from .merge import Plan, plan_merge, snapshot_dir, snapshot_from_json, snapshot_to_json

MAX_MATERIAL = 512 << 20


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def folder_name(text: str) -> str:
    name = text.strip().strip("/")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,59}", name) or name in (".", ".."):
        raise LocalhubError(f"'{shown(text)}' cannot name the material's folder: use up to 60 letters, digits, "
                            "spaces, '.', '_' or '-'.")
    return name


class MaterialStore:
    def __init__(self, state_root: Path):
        self.root = Path(state_root) / "workshop" / "material"

    # --- teacher ------------------------------------------------------------------------------------
    def publish(self, source: Path, name: str | None = None) -> dict:
        source = Path(source)
        if not source.is_dir():
            raise LocalhubError(f"{shown(source)} is not a folder; publish a folder (a git working copy is fine).")
        files = snapshot_dir(source)
        if not files:
            raise LocalhubError(f"{shown(source)} holds no files to publish.")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path in sorted(files):
                tar.add(source / path, arcname=path, recursive=False)
        data = zstandard.ZstdCompressor(level=10).compress(buf.getvalue())
        if len(data) > MAX_MATERIAL:
            raise LocalhubError(f"{shown(source)} is too big to hand out as material "
                                f"({len(data) >> 20} MiB compressed; at most {MAX_MATERIAL >> 20}).")
        previous = self.current()
        version = (previous or {}).get("version", 0) + 1
        info = {"version": version, "name": folder_name(name or source.resolve().name),
                "files": snapshot_to_json(files), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                "at": time.time()}
        _write(self.root / f"v{version}.tar.zst", data)
        _write(self.root / "current.json", json.dumps(info).encode())
        return info

    def current(self) -> dict | None:
        return _read_json(self.root / "current.json")

    def current_bytes(self) -> bytes | None:
        info = self.current()
        if info is None:
            return None
        try:
            return (self.root / f"v{info['version']}.tar.zst").read_bytes()
        except OSError:
            return None

    def summary(self, info: dict | None) -> dict | None:
        """What /have tells the class of the material (no file list)."""
        if not info:
            return None
        return {k: info[k] for k in ("version", "name", "sha256", "size", "at")}

    # --- participant --------------------------------------------------------------------------------
    def receive(self, info: dict, data: bytes) -> dict:
        if hashlib.sha256(data).hexdigest() != info.get("sha256"):
            raise LocalhubError("The material arrived damaged (its hash does not match); it is fetched again.")
        _write(self.root / "received.tar.zst", data)
        _write(self.root / "received.json", json.dumps(info).encode())
        return info

    def received(self) -> dict | None:
        return _read_json(self.root / "received.json")

    def unpack(self, dest: Path) -> None:
        raw = zstandard.ZstdDecompressor().stream_reader(open(self.root / "received.tar.zst", "rb"))
        with tarfile.open(fileobj=raw, mode="r|") as tar:
            tar.extractall(dest, filter="data")

    def given(self, server: str) -> dict:
        return _read_json(self.root / "given" / f"{_key(server)}.json") or {}

    def set_given(self, server: str, version: int, base: dict, report: str) -> None:
        _write(self.root / "given" / f"{_key(server)}.json",
               json.dumps({"server": server, "version": version, "base": base, "report": report,
                           "at": time.time()}).encode())

    def given_all(self) -> list[dict]:
        return [d for p in sorted((self.root / "given").glob("*.json")) if (d := _read_json(p))]


def _key(server: str) -> str:
    return hashlib.sha256(server.encode()).hexdigest()[:16]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def merge_into_home(store: MaterialStore, client, server: str, volume: str, image: str, labels: dict) -> Plan:
    """Merge the received material into one server's home; remembers what it gave for the next time."""
    info = store.received()
    if info is None:
        raise LocalhubError("No material has been received from the teacher yet.")
    folder = info["name"]
    given = store.given(server)
    base = snapshot_from_json(given.get("base") or {})
    newer = snapshot_from_json(info["files"])
    with tempfile.TemporaryDirectory(prefix="localhub-material-") as tmp, Home(client, volume, image, labels) as home:
        store.unpack(Path(tmp))
        current = home.snapshot(folder, set(base) | set(newer))
        plan = plan_merge(base, newer, current, label=f"v{info['version']}",
                          occupied=lambda p: home.exists(f"{folder}/{p}"))
        files = []
        for dest, source in plan.writes():
            path = Path(tmp) / source
            files.append((dest, path.read_bytes(), os.access(path, os.X_OK)))
        if files:
            home.write(folder, files)
    store.set_given(server, info["version"], snapshot_to_json(plan.base_after), plan.describe())
    return plan
