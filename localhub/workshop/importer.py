"""`localhub bundle import`: check a bundle, load into the engine only what it lacks, and record its links
so that they launch here with no network.

Order matters for "nothing half-imported": the small parts (image configs, repositories) are checked
first; the layers are checked as they stream into the engine, which keeps nothing when the stream breaks
off; the links are recorded only once every image is in. A failure at any point leaves the engine and the
state dir as they were, and the error names the part at fault.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import docker

from ..errors import LocalhubError, shown
from ..lifecycle import is_process, process_start
from . import layers
from .bundlefile import BundleReader
from .offline import OfflineLinks
from .progress import Progress, Throttled


@dataclass
class ImportResult:
    bundle_id: str
    name: str
    links: list[dict]
    images_loaded: int
    images_present: int
    layers_sent: int
    layers_skipped: int
    progress: Progress
    repos: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"bundle": self.bundle_id, "name": self.name, "links": self.links,
                "images_loaded": self.images_loaded, "images_present": self.images_present,
                "layers_sent": self.layers_sent, "layers_skipped": self.layers_skipped,
                "repos": self.repos, "progress": self.progress.to_dict()}


def workshop_dir(state_root: Path) -> Path:
    return Path(state_root) / "workshop"


class ImportStatus:
    """`<state>/workshop/import.json`: the import running now (or the last one), for the TUI and the launch
    page, which learn of it from the daemon."""

    def __init__(self, state_root: Path):
        self.path = workshop_dir(state_root) / "import.json"

    def write(self, **data) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".import.json.{os.getpid()}")
        tmp.write_text(json.dumps({**data, "pid": os.getpid(), "started": process_start(os.getpid()),
                                   "updated": time.time()}))
        os.replace(tmp, self.path)

    def read(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if data.get("state") == "running" and not is_process(data.get("pid"), data.get("started")):
            data["state"] = "failed"
            data["message"] = "the import was interrupted (its process ended); run it again"
        return data


def import_bundle(path: Path, client: docker.DockerClient, state_root: Path,
                  report: Callable[[Progress], None] | None = None) -> ImportResult:
    path = Path(path)
    status = ImportStatus(state_root)
    reader = BundleReader(path)
    manifest = reader.manifest
    progress = Progress(f"Importing {path.name}", total=0)
    shown_progress = Throttled(report)

    def tick(n: int) -> None:
        progress.add(n)
        shown_progress(progress)
        if time.monotonic() - tick.last > 1.0:
            tick.last = time.monotonic()
            status.write(state="running", bundle=manifest.name, file=str(path), progress=progress.to_dict())

    tick.last = 0.0
    status.write(state="running", bundle=manifest.name, file=str(path), progress=progress.to_dict())
    repos_root = workshop_dir(state_root) / "repos"
    incoming = repos_root / f".incoming-{reader.id}-{os.getpid()}"
    try:
        with reader:
            progress.stage = "checking image configs and repositories"
            to_load = []
            for image in manifest.images:
                config = reader.read(image.config)
                if "sha256:" + hashlib.sha256(config).hexdigest() != image.id:
                    raise LocalhubError(f"{shown(path.name)} is damaged: part {image.config} is not the config of "
                                        f"image {image.id[:19]}; nothing from it was kept.")
                to_load.append(layers.ToLoad(image.id, image.names, config, [
                    (d, manifest.parts[manifest.layers[d]].size, manifest.parts[manifest.layers[d]].raw_size or 0,
                     (lambda p=manifest.layers[d]: reader.open(p))) for d in image.layers]))
            _copy_repos(reader, incoming)

            def planned(send: int, skipped: int) -> None:
                progress.total, progress.skipped = send, skipped
                progress.stage = f"loading {len(to_load)} image(s) into the engine"
                shown_progress(progress, final=True)

            loaded = layers.load(client, to_load, on_bytes=tick, on_plan=planned)
        progress.finish()
        kept = _keep_repos(incoming, repos_root / reader.id)
        links = [{"link": link.link, "spec": link.spec, "urlpath": link.urlpath, "resolved": link.resolved,
                  "image": link.image, "image_id": link.image_id,
                  "repo": str(repos_root / reader.id / Path(link.repo).name) if link.repo else None}
                 for link in manifest.links]
        OfflineLinks(state_root).add_bundle(reader.id, manifest.name, str(path.resolve()), reader.file_size, links,
                                            [i.id for i in manifest.images])
    except BaseException as err:
        shutil.rmtree(incoming, ignore_errors=True)
        message = str(err) if isinstance(err, LocalhubError) else f"interrupted ({err.__class__.__name__})"
        status.write(state="failed", bundle=manifest.name, file=str(path), message=message,
                     progress=progress.to_dict())
        raise
    shown_progress(progress, final=True)
    status.write(state="done", bundle=manifest.name, file=str(path), progress=progress.to_dict(),
                 message=f"{len(links)} link(s) ready offline")
    return ImportResult(reader.id, manifest.name, links, len(loaded.images), len(loaded.present),
                        loaded.layers_sent, loaded.layers_skipped, progress, kept)


def _copy_repos(reader: BundleReader, incoming: Path) -> list[str]:
    names = []
    for part in reader.manifest.parts.values():
        if part.kind != "repo":
            continue
        incoming.mkdir(parents=True, exist_ok=True)
        with reader.open(part.path) as stream, open(incoming / Path(part.path).name, "wb") as out:
            while data := stream.read():
                out.write(data)
        names.append(Path(part.path).name)
    return names


def _keep_repos(incoming: Path, final: Path) -> list[str]:
    if not incoming.exists():
        return []
    if final.exists():
        shutil.rmtree(final)  # the same bundle imported again: its repositories are the same bytes
    os.replace(incoming, final)
    return sorted(p.name for p in final.iterdir())
