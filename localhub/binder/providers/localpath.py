"""Folders of this machine named by a link (`local/…`, `file://…`, `git/<encoded path>`): the checks they share.

A link that names a path here is read against the filesystem at once, so that `/etc/passwd` or a name no
filesystem allows is one clear sentence when the link is read, not a failed build later (or an OSError:
names over 255 bytes make the kernel refuse even a stat).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from ..quoting import decode
from ..errors import BadLink, URL_LIMIT, shown

NAME_MAX = 255  # bytes in one path component (Linux filesystems)
PATH_MAX = 4095  # bytes in a whole path, without the final NUL


def check_folder(path: str, git: bool = False) -> str:
    """`path` (absolute) normalised, unless what is there contradicts the link: a file where a folder is
    named, a folder that is no git repository where a repository is, a name no filesystem allows. A path
    where nothing is passes: resolving it says it was not found, as for a repository gone from a server."""
    path = "/" + os.path.normpath(path).lstrip("/")  # POSIX keeps a leading "//" apart; here it means "/"
    encoded = os.fsencode(path)
    if len(encoded) > PATH_MAX or any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        raise BadLink(f"{shown(path, URL_LIMIT)} cannot name a folder of this machine: a name in a path is at most "
                      f"{NAME_MAX} bytes long and a whole path {PATH_MAX}.")
    if path == os.path.sep:
        raise BadLink("A link to / names the whole filesystem, and the filesystem root is not a project "
                      "directory; name the folder of one project.")
    if os.path.isdir(path):  # never raises: an OSError reads as "not a folder"
        if git and not is_git_repository(path):
            raise BadLink(f"{shown(path, URL_LIMIT)} is a folder but not a git repository; launch it as "
                          "local/<its URL-encoded path> to build it as it is.")
    elif os.path.lexists(path):
        raise BadLink(f"{shown(path, URL_LIMIT)} is a file, not a {'git repository' if git else 'folder'}; "
                      "a link to this machine names a project's folder.")
    return path


def file_url_path(url: str, bad) -> str:
    """The path a file:// URL names on this machine; `bad(problem)` makes the provider's BadLink otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise bad(f"{shown(url, URL_LIMIT)} is not a well-formed file:// URL") from None
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise bad(f"{shown(url, URL_LIMIT)} is not a file:// URL of this machine")
    return decode(parts.path)


def is_git_repository(path: str) -> bool:
    """A work tree root (with .git) or a bare repository."""
    root = Path(path)
    if os.path.lexists(root / ".git"):
        return True
    return os.path.isfile(root / "HEAD") and os.path.isdir(root / "objects") and os.path.isdir(root / "refs")
