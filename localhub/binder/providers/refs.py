"""What a git ref may look like: full commit ids and the ref-name rules of `git check-ref-format`."""

from __future__ import annotations

import re

_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def is_full_sha(ref: str) -> bool:
    """A full SHA-1 (or SHA-256) object id: immutable, so it needs no lookup."""
    return bool(_FULL_SHA.fullmatch(ref))


def is_valid_ref(ref: str) -> bool:
    """True for names git could accept as a branch, tag, `HEAD` or commit id (a loose `check-ref-format`)."""
    if not ref or ref == "@" or _FORBIDDEN.search(ref):
        return False
    if ref.startswith(("/", "-")) or ref.endswith(("/", ".", ".lock")):
        return False
    return not any(part.startswith(".") for part in ref.split("/"))
