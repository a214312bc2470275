"""A server's home, read and written through the engine: a helper container is created on the home's
volume (never started, no network) and the engine's archive API reads and writes files in it. This works
whether the server runs or not, and nothing but the engine touches the volume.

    with Home(client, volume, image) as home:
        home.snapshot("material", paths)      # merge.Snapshot of those paths (and what is in their way),
                                              # read in one streamed archive of the folder
        home.write("material", files)         # files written as the server's user (uid 1000)
        home.archive("work/answers.ipynb")    # a tar of a file or folder, for handing in
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import time
from pathlib import PurePosixPath

import docker
import docker.errors

from ..errors import LocalhubError, shown
from .merge import BUFFER, Entry, Snapshot

HOME = "/home/jovyan"
UID = GID = 1000
_DIR, _LINK = 1 << 31, 1 << 27  # Go's os.FileMode bits in the engine's path stat


class Home:
    def __init__(self, client: docker.DockerClient, volume: str, image: str, labels: dict | None = None):
        self.client, self.volume, self.image, self.labels = client, volume, image, labels or {}
        self.container = None

    def __enter__(self) -> "Home":
        try:
            self.client.api.inspect_volume(self.volume)
        except docker.errors.NotFound:
            raise LocalhubError(f"The home volume {shown(self.volume)} does not exist (the server was never "
                                "started, or was deleted).") from None
        self.container = self.client.containers.create(
            self.image, command=["true"], entrypoint=[], network_disabled=True, user=f"{UID}:{GID}",
            volumes={self.volume: {"bind": HOME, "mode": "rw"}},
            labels={**self.labels, "localhub.workshop": "home-access"})
        return self

    def __exit__(self, *exc) -> None:
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except docker.errors.APIError:
                pass

    def _path(self, rel: str) -> str:
        clean = PurePosixPath(rel)
        if clean.is_absolute() or ".." in clean.parts:
            raise LocalhubError(f"'{shown(rel)}' is not a path inside the home.")
        return f"{HOME}/{clean.as_posix()}".rstrip("/") if rel not in ("", ".") else HOME

    def stat(self, rel: str) -> dict | None:
        api = self.client.api
        r = api.head(api._url("/containers/{0}/archive", self.container.id), params={"path": self._path(rel)})
        if r.status_code == 404:
            return None
        if r.status_code >= 400:
            raise LocalhubError(f"The engine would not read {shown(rel)} in the home ({r.status_code}).")
        return json.loads(base64.b64decode(r.headers["X-Docker-Container-Path-Stat"]))

    def snapshot(self, folder: str, paths) -> Snapshot:
        """merge.snapshot_dir's answer for `paths` in `folder` of the home, and what is in their way: the folder
        read as one archive (two engine requests per file took a tenth of a second each)."""
        st = self.stat(folder)
        if st is None:
            return {}
        if st["mode"] & _LINK or not st["mode"] & _DIR:
            what = "link" if st["mode"] & _LINK else "file"
            raise LocalhubError(f"'{shown(folder)}' in the home is a {what}, not a folder, so nothing is put there: "
                                f"rename that {what} and the files follow at the next try.")
        chunks, _ = self.client.api.get_archive(self.container.id, self._path(folder))
        return snapshot_of_archive(chunks, paths)

    def exists(self, rel: str) -> bool:
        return self.stat(rel) is not None

    def write(self, folder: str, files: list[tuple[str, bytes, bool]]) -> None:
        """Write (path, bytes, executable) under `folder`, making missing folders, owned by the server's user."""
        buf = io.BytesIO()
        made: set[str] = set()
        now = time.time()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, data, executable in files:
                parts = PurePosixPath(folder, path).parts
                for i in range(1, len(parts)):
                    d = "/".join(parts[:i])
                    if d not in made and not self.exists(d):
                        info = tarfile.TarInfo(d)
                        info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, 0o755, UID, GID, now
                        tar.addfile(info)
                    made.add(d)
                info = tarfile.TarInfo("/".join(parts))
                info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o755 if executable else 0o644, \
                    UID, GID, now
                tar.addfile(info, io.BytesIO(data))
        if not self.client.api.put_archive(self.container.id, HOME, buf.getvalue()):
            raise LocalhubError("The engine would not write into the home.")

    def archive(self, rel: str) -> bytes:
        """A tar of a file or folder of the home (its name at the top), for handing in."""
        if self.stat(rel) is None:
            raise LocalhubError(f"There is no '{shown(rel)}' in the server's home.")
        stream, _ = self.client.api.get_archive(self.container.id, self._path(rel))
        return b"".join(stream)


class _Chunks(io.RawIOBase):
    """A file over the engine's stream of archive chunks, for tarfile's streaming mode."""

    def __init__(self, chunks):
        self._chunks, self._left = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            self._left = next(self._chunks, None)
            if self._left is None:
                self._left = b""
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n], self._left = self._left[:n], self._left[n:]
        return n


def snapshot_of_archive(chunks, paths) -> Snapshot:
    """merge.snapshot_dir's answer for `paths` (and whatever is in their way) from the engine's archive of a folder
    (the folder at the top), read once as a stream: only the wanted files are hashed."""
    wanted = set(paths)
    parents = {str(q) for p in wanted for q in PurePosixPath(p).parents if str(q) != "."}
    found: Snapshot = {}
    with tarfile.open(fileobj=io.BufferedReader(_Chunks(chunks), BUFFER), mode="r|") as tar:
        for member in tar:
            rel = "/".join(PurePosixPath(member.name).parts[1:])
            if rel not in wanted and rel not in parents:
                continue
            if member.isdir():
                found[rel] = Entry("dir")
            elif member.issym():
                target = member.linkname.encode("utf-8", "surrogateescape")
                found[rel] = Entry("link", hashlib.sha256(target).hexdigest())
            elif member.isfile():
                digest, f = hashlib.sha256(), tar.extractfile(member)
                while block := f.read(BUFFER):
                    digest.update(block)
                found[rel] = Entry("file", digest.hexdigest(), bool(member.mode & 0o111))
            elif member.islnk():  # the same file as an earlier member; unknown content counts as the user's
                target = found.get("/".join(PurePosixPath(member.linkname).parts[1:]))
                found[rel] = Entry("file", target.digest if target else "", bool(member.mode & 0o111))
            else:
                found[rel] = Entry("other")
    snapshot: Snapshot = {}
    for path in wanted:
        blocked = next((q for q in reversed(PurePosixPath(path).parents)
                        if str(q) != "." and str(q) in found and found[str(q)].kind != "dir"), None)
        if blocked is not None:
            snapshot[str(blocked)] = found[str(blocked)]
        elif path in found:
            snapshot[path] = found[path]
    return snapshot
