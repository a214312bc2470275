"""Shared grammar of `owner/repo/ref` specs (GitHub, Bitbucket): parsing, checking and writing them back."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadLink
from ..quoting import decode, encode_ref
from .refs import is_valid_ref

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
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
            raise BadLink(f"{provider}/{head} has no ref; a valid link looks like {provider}/{head}/HEAD.")
        raise BadLink(f"{provider}/{head} needs an owner, a repository and a ref; a valid link looks like {example}.")
    owner, repo, ref = decode(parts[0]), decode(parts[1]), decode(parts[2].rstrip("/"))
    repo = repo.removesuffix(".git")
    for label, value in (("owner", owner), ("repository", repo)):
        if not _NAME.fullmatch(value) or value in {".", ".."}:
            raise BadLink(f"{value!r} is not a valid {title} {label} name; a valid link looks like {example}.")
    if not is_valid_ref(ref):
        raise BadLink(f"{ref!r} is not a valid git ref; a valid link looks like {provider}/{owner}/{repo}/HEAD.")
    return OwnerRepoRef(owner, repo, ref)


def format_owner_repo_ref(owner: str, repo: str, ref: str) -> str:
    return f"{owner}/{repo}/{encode_ref(ref)}"
