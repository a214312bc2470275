"""The files of a server's environment in its home, brought up to date when the server moves to a newer commit.

A repository's files live in its image: repo2docker copies them into the image's home at build time, and Docker
copies that home into a new, empty home volume on its first mount, and never again. So a launch of a newer
commit restarted the server on the new image with the old files. Now, before a server starts on a newer image
than the one its home's files came from (and on demand: `localhub servers sync NAME`), the image's home is
merged into the volume by nbgitpuller's rules — workshop/merge.py, the one owner of those rules: new files
added, files the user never touched updated, edited files kept, conflicts named with the newer version put
beside the user's. Nothing the user made is removed or overwritten.

"Untouched" is judged against what was brought in last, recorded per home volume under
`<state>/homes/<hash of the volume name>.json`:

    {"volume", "created"   the volume's creation time: a volume deleted and made again has no record
     "image", "image_id", "commit"   the image whose files the home holds
     "files"               merge.Snapshot of those files (the base of the next merge)
     "report", "at"}

Without a record, the home's files came from the image the server last ran (its first mount): that image is
read as the base, and recorded before anything is merged, so that a failed merge can be retried on demand.
A `.git` folder, links and special files of the image are never brought in (a link could name anything on
this machine).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import docker
import docker.errors

from .errors import LocalhubError, shown
from .images.catalog import LABEL_RESOLVED
from .state import write_atomic
from .storage import home_volume_name
from .workshop.homes import HOME, Home
from .workshop.merge import (ADD, CONFLICT, KEEP, LEFT, RESTORE, UPDATE, Plan, Snapshot, plan_merge, snapshot_dir,
                             snapshot_from_json, snapshot_to_json)

log = logging.getLogger(__name__)

NAMES_SHOWN = 5  # files named per kind in a report; the rest are counted


# --- what happened, in words -------------------------------------------------------------------------

def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _names(paths: list[str]) -> str:
    shown_paths = ", ".join(shown(p, 80) for p in paths[:NAMES_SHOWN])
    return shown_paths + (f" and {len(paths) - NAMES_SHOWN} more" if len(paths) > NAMES_SHOWN else "")


def describe(plan: Plan, commit: str) -> str:
    """One sentence: what a merge did to the home, every conflict named with where the newer version went."""
    def paths(action: str) -> list[str]:
        return [d.path for d in plan.by_action(action)]

    parts = []
    for action, one, many in ((ADD, "new file", None), (UPDATE, "updated", "updated"),
                              (RESTORE, "restored (you had deleted it)", "restored (you had deleted them)")):
        if paths(action):
            parts.append(f"{_plural(len(paths(action)), one, many)} ({_names(paths(action))})")
    if paths(LEFT):
        parts.append(f"{_plural(len(paths(LEFT)), 'file', 'files')} no longer in the repository left in place "
                     f"({_names(paths(LEFT))})")
    if plan.conflicts:
        named = "; ".join(f"{shown(d.path, 80)} ({d.reason}" + (f"; the commit's version is in "
                                                                  f"{shown(d.beside, 80)})" if d.beside else ")")
                          for d in plan.conflicts)
        parts.append(f"{_plural(len(plan.conflicts), 'file', 'files')} kept with your edits: {named}")
    kept = f"your edits to {_names(paths(KEEP))} are kept" if paths(KEEP) else ""
    where = f"commit {commit}" if commit else "the environment"
    if not parts:
        return f"The home already holds the files of {where}" + (f" ({kept})." if kept else ".")
    return f"Files of {where} brought into the home: " + ", ".join(parts) + (f"; {kept}." if kept else ".")


def changed(plan: Plan) -> bool:
    """Whether the merge wrote into the home or has news (else the home already held the files)."""
    return any(d.action in (ADD, UPDATE, RESTORE, CONFLICT, LEFT) for d in plan.decisions)


def commit_label(resolved: str | None) -> str:
    """The short name of a commit, as beside-copies carry it (`analysis.3f2a9c1.ipynb`)."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "", resolved or "").strip(".")
    if re.fullmatch(r"[0-9a-f]{12,}", clean):
        return clean[:7]
    return clean[:20] or "newer"


# --- the record of what a home holds ----------------------------------------------------------------

class HomeRecords:
    def __init__(self, state_root: Path):
        self.root = Path(state_root) / "homes"

    def _path(self, volume: str) -> Path:
        return self.root / f"{hashlib.sha256(volume.encode()).hexdigest()[:24]}.json"

    def get(self, volume: str, created: str) -> dict | None:
        """The record of this volume, if it was made for this volume (not an earlier one of the same name)."""
        try:
            record = json.loads(self._path(volume).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("volume") != volume or record.get("created") != created:
            return None
        return record

    def put(self, volume: str, created: str, image: str, image_id: str | None, commit: str, files: Snapshot,
            report: str = "") -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(self._path(volume), json.dumps({
            "volume": volume, "created": created, "image": image, "image_id": image_id, "commit": commit,
            "files": snapshot_to_json(files), "report": report, "at": time.time()}))


# --- an image's home, read through the engine ---------------------------------------------------------

def _member_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """Regular files and folders only, never under `.git`, never outside `dest`."""
    if not (member.isfile() or member.isdir()) or ".git" in PurePosixPath(member.name).parts:
        return None
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None


def unpack_home(chunks, dest: Path) -> Path:
    """Unpack the engine's archive of a home (a tar with the home's folder at its top) into `dest`; returns
    the unpacked home."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / "home.tar"
    with open(archive, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    with tarfile.open(archive) as tar:
        tar.extractall(dest / "unpacked", filter=_member_filter)
    archive.unlink()
    home = dest / "unpacked" / PurePosixPath(HOME).name
    home.mkdir(parents=True, exist_ok=True)
    return home


def image_home(client: docker.DockerClient, image: str, dest: Path, labels: dict) -> Path:
    """The image's home (as a new home volume would get it) unpacked into `dest`."""
    container = client.containers.create(image, command=["true"], entrypoint=[], network_disabled=True,
                                         labels=labels)
    try:
        try:
            chunks, _ = client.api.get_archive(container.id, HOME)
        except docker.errors.NotFound:
            return unpack_home([], dest)  # an image without a home brings no files
        return unpack_home(chunks, dest)
    finally:
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass


# --- bringing the files in ----------------------------------------------------------------------------

@dataclass
class Outcome:
    server: str
    message: str
    commit: str = ""
    image: str = ""
    plan: Plan | None = None
    changed: bool = False
    summary: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"server": self.server, "message": self.message, "commit": self.commit, "image": self.image,
                "changed": self.changed, **({"files": self.summary} if self.summary else {})}


class HomeFiles:
    """Brings the files of a server's image into its home volume (see the module's docstring)."""

    home_access = Home  # how a home volume is read and written (a folder stands in for it in unit tests)

    def __init__(self, client: docker.DockerClient, state_root: Path, instance: str, user: str,
                 labels: dict | None = None):
        self.client, self.instance, self.user = client, instance, user
        # on the short-lived containers that read an image's home and write into a volume
        self.labels = {**(labels or {}), "localhub.instance": instance, "localhub.role": "home-files"}
        self.records = HomeRecords(state_root)

    def volume(self, server: str) -> str:
        return home_volume_name(self.instance, self.user, server)

    def _image_id(self, image: str) -> str | None:
        try:
            return self.client.images.get(image).id
        except docker.errors.ImageNotFound:
            return None

    def _commit_of(self, image: str) -> str:
        try:
            return (self.client.images.get(image).labels or {}).get(LABEL_RESOLVED, "")
        except docker.errors.ImageNotFound:
            return ""

    def before_start(self, server: str, image: str, commit: str, came_from: str | None) -> Outcome | None:
        """Before `server` starts on `image`: bring its files in when the home holds an older image's (None
        when there is nothing to say: a new home gets the image's files from Docker). Never raises: a
        failure is said, and the server starts with its home as it was."""
        try:
            return self.sync(server, image, commit, came_from, only_if_newer=True)
        except Exception as err:  # the launch goes on whatever went wrong here (no edit is lost)
            log.warning("Bringing the files of %s into the home of %s failed: %s", image, server, err,
                        exc_info=not isinstance(err, (LocalhubError, docker.errors.DockerException, OSError)))
            return Outcome(server, f"The files of commit {commit_label(commit)} could not be brought into the home "
                                   f"({shown(str(err), 200)}); the server starts with its files as they were: "
                                   f"`localhub servers sync {server}` tries again.", commit, image)

    def sync(self, server: str, image: str, commit: str = "", came_from: str | None = None,
             only_if_newer: bool = False) -> Outcome | None:
        """Merge `image`'s home into the server's home volume. `came_from` is the image the home's files came
        from when no record says so (default: `image` itself). With `only_if_newer`, a home recorded as
        holding this very image is left alone (no read at all)."""
        volume = self.volume(server)
        try:
            created = self.client.api.inspect_volume(volume).get("CreatedAt", "")
        except docker.errors.NotFound:
            return None  # no home yet: its first mount copies the image's home
        image_id = self._image_id(image)
        if image_id is None:
            raise LocalhubError(f"The image {shown(image)} of server '{shown(server)}' is not on this machine.")
        commit = commit or self._commit_of(image)
        label = commit_label(commit)
        record = self.records.get(volume, created)
        if record is None:
            record = self._first_record(volume, created, came_from or image)
        if only_if_newer and record.get("image_id") == image_id:
            return None
        base = snapshot_from_json(record.get("files") or {})
        with tempfile.TemporaryDirectory(prefix="localhub-home-files-") as tmp:
            newer_root = image_home(self.client, image, Path(tmp), self.labels)
            newer = snapshot_dir(newer_root)
            with self.home_access(self.client, volume, image, self.labels) as home:
                current = home.snapshot(".", set(base) | set(newer))
                plan = plan_merge(base, newer, current, label=label, occupied=lambda p: home.exists(p))
                files = [(dest, (newer_root / source).read_bytes(), os.access(newer_root / source, os.X_OK))
                         for dest, source in plan.writes()]
                if files:
                    home.write(".", files)
        message = describe(plan, label if commit else "")
        self.records.put(volume, created, image, image_id, commit, plan.base_after, message)
        log.info("%s: %s", server, message)
        return Outcome(server, message, commit, image, plan, changed(plan), plan.summary())

    def _first_record(self, volume: str, created: str, came_from: str) -> dict:
        """The record of a home that has none: the files of the image it came from (none if that image is
        gone: then every file of the home that differs from the newer one counts as the user's)."""
        image_id = self._image_id(came_from)
        files: Snapshot = {}
        if image_id is not None:
            with tempfile.TemporaryDirectory(prefix="localhub-home-files-") as tmp:
                files = snapshot_dir(image_home(self.client, came_from, Path(tmp), self.labels))
        commit = self._commit_of(came_from) if image_id else ""
        self.records.put(volume, created, came_from, image_id, commit, files, "the files of its first start")
        return {"image_id": image_id, "files": snapshot_to_json(files)}
