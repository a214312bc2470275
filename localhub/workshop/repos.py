"""A link's repository content at the commit its environment was built from, as a zstd-compressed tar:
carried in the bundle so the material is on the laptop even where the image's home is not what a
participant wants (and so that a Dockerfile repository can be rebuilt offline)."""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

import zstandard

from ..binder import LaunchSpec

GIT_PROVIDERS = {"gh", "gl", "gist", "bb", "git"}
TIMEOUT = 300


def _git(*args: str, cwd: str | None = None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    return subprocess.run(["git", *args], cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, env=env,
                          timeout=TIMEOUT)


def archive(launch: LaunchSpec, resolved: str, dest: Path) -> bool:
    """Write the content to `dest`; False when the link is not a git repository or a folder (records such
    as Zenodo DOIs are fetched by repo2docker and not kept)."""
    if launch.provider == "local" and not launch.ref:
        _tar_folder(Path(launch.repo), dest)
        return True
    if launch.provider == "local":
        return _git_archive(launch.repo, resolved, dest, local=True)
    if launch.provider in GIT_PROVIDERS:
        return _git_archive(launch.repo, resolved, dest, local=False)
    return False


def _git_archive(repo: str, commit: str, dest: Path, local: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="localhub-repo-") as tmp:
        if local:
            source = repo
        else:
            source = os.path.join(tmp, "repo.git")
            if _git("clone", "--bare", "--quiet", repo, source).returncode != 0:
                return False
        raw = os.path.join(tmp, "content.tar")
        with open(raw, "wb") as out:
            if _git("-C", source, "archive", "--format=tar", commit, stdout=out).returncode != 0:
                return False
        _compress(Path(raw), dest)
    return True


def _tar_folder(folder: Path, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="localhub-repo-") as tmp:
        raw = Path(tmp) / "content.tar"
        with tarfile.open(raw, "w") as tar:
            for item in sorted(folder.iterdir()):
                if item.name != ".git":
                    tar.add(item, arcname=item.name)
        _compress(raw, dest)


def _compress(raw: Path, dest: Path) -> None:
    with open(raw, "rb") as src, open(dest, "wb") as out:
        zstandard.ZstdCompressor(level=10).copy_stream(src, out)
