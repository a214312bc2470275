"""Shared grammar of `owner/repo/ref` specs (GitHub, Bitbucket): parsing, checking and writing them back."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadLink, echo, shown, suggest
from ..quoting import decode, encode_ref
from .refs import is_valid_ref

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")  # GitHub allows 39 characters for owners, 100 for repositories
_SUSPICIOUS_REPOS = {"main", "master", "HEAD"}


@dataclass(frozen=True)
class OwnerRepoRef:
    owner: str
    repo: str
    ref: str


def parse_owner_repo_ref(body: str, provider: str, title: str) -> OwnerRepoRef:
    """Split `owner/repo/ref` (the ref may hold slashes); BadLink with a suggestion when a part is missing."""
    parts = body.split("/", 2)
    example = f"{provider}/org/repo/HEAD"
    if len(parts) < 3 or not parts[2].strip("/"):
        head = "/".join(p for p in parts if p)
        if len(parts) >= 2 and parts[1] and parts[1] not in _SUSPICIOUS_REPOS:
            raise BadLink(f"{shown(provider + '/' + head)} has no ref; "
                          f"a valid link looks like {suggest(f'{provider}/{head}/HEAD', example)}.")
        raise BadLink(f"{shown(provider + '/' + head)} needs an owner, a repository and a ref; "
                      f"a valid link looks like {example}.")
    owner, repo, ref = decode(parts[0]), decode(parts[1]), decode(parts[2].rstrip("/"))
    repo = repo.removesuffix(".git")
    for label, value in (("owner", owner), ("repository", repo)):
        if not _NAME.fullmatch(value) or value in {".", ".."}:
            raise BadLink(f"{echo(value)} is not a valid {title} {label} name; a valid link looks like {example}.")
    if not is_valid_ref(ref):
        raise BadLink(f"{echo(ref)} is not a valid git ref; a valid link looks like {suggest(f'{provider}/{owner}/{repo}/HEAD', example)}.")
    return OwnerRepoRef(owner, repo, ref)


def format_owner_repo_ref(owner: str, repo: str, ref: str) -> str:
    return f"{owner}/{repo}/{encode_ref(ref)}"
