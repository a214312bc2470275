"""A directory on this machine (not in BinderHub): `local/<url-encoded absolute path>[/<ref>]`, paths and file:// URLs.

With a ref the directory must be a git repository and the id is that ref's commit; without one the
directory is built as it is on disk and the id is a hash of its content.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import ResolveError, URL_LIMIT, echo, shown
from ..quoting import decode, encode_component, encode_ref
from ..spec import LaunchSpec
from .base import Provider
from .localpath import check_folder, file_url_path, is_git_repository
from .refs import is_valid_ref
from .treehash import tree_hash

_PATH_PREFIXES = ("/", "./", "../", "~")


class Local(Provider):
    name = "local"
    title = "local directory"
    example = "local/%2Fhome%2Fyou%2Fproject/HEAD"
    form_rank = 120
    form_encodes_repository = True
    form_takes_urls = True

    def from_spec(self, spec: str) -> LaunchSpec:
        quoted, _, ref = spec.partition("/")
        path = os.path.expanduser(decode(quoted))
        if not os.path.isabs(path):
            raise self.bad(f"{echo(path)} is not an absolute path (encode the whole path, slashes too)")
        ref = decode(ref).rstrip("/")
        if ref and not is_valid_ref(ref):
            raise self.bad(f"{echo(ref)} is not a valid git ref")
        return LaunchSpec(self.name, check_folder(path), ref or None)

    def detect(self, url: str) -> LaunchSpec | None:
        text = url.strip()
        if text.lower().startswith("file:"):
            path = file_url_path(text, self.bad)
        elif text.startswith(_PATH_PREFIXES) or text in (".", "..") or os.path.isdir(text):
            path = os.path.expanduser(text)
        else:
            return None
        path = check_folder(os.path.abspath(path))
        # A git repository is pinned to its committed HEAD; any other directory is taken as it is.
        return LaunchSpec(self.name, path, "HEAD" if is_git_repository(path) else None)

    def build_source(self, launch: LaunchSpec, resolved: str) -> tuple[str, str | None]:
        if launch.ref:  # a git repository: build the committed tree, not the working copy
            return f"file://{launch.repo}", resolved
        return launch.repo, None

    def resolve(self, launch: LaunchSpec) -> str:
        path = Path(launch.repo)
        if not path.exists():
            raise ResolveError(f"Local directory {shown(path, URL_LIMIT)} does not exist.", kind="repo")
        if not path.is_dir():
            raise ResolveError(f"{shown(path, URL_LIMIT)} is a file, not a directory.", kind="repo")
        if launch.ref is None:
            return tree_hash(path)
        return _rev_parse(path, launch.ref)

    def format_spec(self, launch: LaunchSpec) -> str:
        body = encode_component(launch.repo)
        return f"{body}/{encode_ref(launch.ref)}" if launch.ref else body


def _rev_parse(path: Path, ref: str) -> str:
    if not is_git_repository(str(path)):
        raise ResolveError(
            f"{shown(path, URL_LIMIT)} is not a git repository, so ref {echo(ref)} cannot be resolved; "
            "leave the ref out to build it as it is.",
            kind="ref",
        )
    command = ["git", "-C", str(path), "rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise ResolveError("git is not installed, so git refs cannot be resolved.") from None
    sha = done.stdout.strip()
    if done.returncode != 0 or not sha:
        detail = done.stderr.strip().splitlines()
        if detail and "dubious ownership" in detail[0]:
            raise ResolveError(f"git refuses to read {shown(path, URL_LIMIT)} because another user owns it (see git safe.directory).")
        raise ResolveError(f"Ref {echo(ref)} was not found in the git repository {shown(path, URL_LIMIT)}.", kind="ref")
    return sha


PROVIDER = Local()
