"""`localhub bundle create`: the environments of some links (already built by the hub) written into one
bundle file with every layer once, compressed, the repositories' content, and a manifest with a hash of
every part.

The images come out of the engine through the blob store (blobs.py), which keeps them: making a second
bundle, or serving the class, does not compress the same layers again.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import docker

from .. import __version__
from ..binder import LaunchSpec
from ..errors import LocalhubError, shown
from ..images.catalog import LABEL_RESOLVED, LABEL_SPEC
from . import layers, repos
from .blobs import BlobStore
from .bundlefile import BundleWriter
from .manifest import ImageEntry, LinkEntry, Manifest
from .progress import Progress, Throttled


@dataclass(frozen=True)
class Built:
    """A link whose environment the hub has built."""

    link: str
    launch: LaunchSpec
    image: str


def resolved_of(client: docker.DockerClient, image: str) -> str:
    labels = client.api.inspect_image(image)["Config"].get("Labels") or {}
    if not labels.get(LABEL_RESOLVED) or not labels.get(LABEL_SPEC):
        raise LocalhubError(f"{shown(image)} carries no Binder labels; it is not an environment localhub built.")
    return labels[LABEL_RESOLVED]


def create_bundle(out: Path, built: list[Built], client: docker.DockerClient, store: BlobStore, name: str,
                  extra_images: list[str] = (), installer=None,
                  report: Callable[[Progress], None] | None = None) -> Manifest:
    """Write the bundle to `out` (replaced only once complete). `installer` adds wheels and a script
    (installer.py); `extra_images` are carried under their own names (the offline base images)."""
    shown_progress = Throttled(report)
    names = list(dict.fromkeys([b.image for b in built] + list(extra_images)))
    saving = Progress("Saving images from the engine", total=layers.save_size(client, names))
    exported = layers.export(client, names, store,
                             on_bytes=lambda n: (saving.add(n), shown_progress(saving)))
    saving.finish()
    shown_progress(saving, final=True)

    images: dict[str, ImageEntry] = {}
    blobs = {}
    for item in exported:
        known = images.get(item.id)
        entry_names = tuple(dict.fromkeys((known.names if known else ()) + item.names))
        images[item.id] = ImageEntry(item.id, entry_names, f"images/{item.id.removeprefix('sha256:')}.json",
                                     tuple(b.diff_id for b in item.layers))
        blobs.update({b.diff_id: b for b in item.layers})
    writing = Progress(f"Writing {out.name}", total=sum(b.size for b in blobs.values()))
    manifest = Manifest(name=name, created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                        created_by=f"localhub {__version__}")
    with BundleWriter(out) as writer, tempfile.TemporaryDirectory(prefix="localhub-bundle-") as tmp:
        for image in images.values():
            writer.add_bytes(image.config, store.config(image.id), "config")
        for i, blob in enumerate(blobs.values(), 1):
            writing.stage = f"layer {i} of {len(blobs)}"
            path = f"layers/{blob.diff_id.removeprefix('sha256:')}.tar.zst"
            writer.add_file(path, store.path(blob), "layer", raw_size=blob.raw_size, diff_id=blob.diff_id,
                            on_bytes=lambda n: (writing.add(n), shown_progress(writing)))
            manifest.layers[blob.diff_id] = path
        for n, item in enumerate(built, 1):
            resolved = resolved_of(client, item.image)
            image_id = client.api.inspect_image(item.image)["Id"]
            content = Path(tmp) / f"repo-{n}.tar.zst"
            repo_part = None
            if repos.archive(item.launch, resolved, content):
                repo_part = f"repos/{n}-{_slug(item.launch)}.tar.zst"
                writer.add_file(repo_part, content, "repo")
            manifest.links.append(LinkEntry(item.link, item.launch.spec, resolved, item.image, image_id,
                                            item.launch.urlpath, repo_part))
        if installer is not None:
            manifest.installer = {**installer.add_to(writer), "images": list(extra_images)}
        manifest.images = list(images.values())
        writer.finish(manifest)
    writing.finish()
    shown_progress(writing, final=True)
    return manifest


def _slug(launch: LaunchSpec) -> str:
    last = launch.repo.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in last)[:40].strip("-.") or "repo"
