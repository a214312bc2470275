"""The two errors of the binder package: a link that cannot be read, and a spec that cannot be resolved."""

from __future__ import annotations

from typing import Literal

from localhub.errors import LocalhubError, shown  # noqa: F401 (shown: for the providers)

ResolveKind = Literal["repo", "ref", "network", "other"]


class BadLink(LocalhubError, ValueError):
    """A link, spec or URL that cannot be read.

    `str(err)` is one sentence: what is wrong, then what a valid link looks like.
    """


class ResolveError(LocalhubError):
    """A spec that cannot be pinned to an immutable id.

    `kind` tells callers why, so they can pick a fallback: "repo" (repository or record not found),
    "ref" (ref not found), "network" (no network, or the host did not answer), "other".
    """

    def __init__(self, message: str, kind: ResolveKind = "other") -> None:
        super().__init__(message)
        self.kind: ResolveKind = kind


# Repository URLs and paths are the user's own and needed to act on a message: shown longer than other input.
URL_LIMIT = 200


def echo(text: object) -> str:
    """What a user wrote, as it may appear in a BadLink or ResolveError: in quotes, control characters
    escaped and cut to a bounded length (`localhub.errors.shown`), so no message prints an escape sequence
    or grows with its input."""
    return f"'{shown(text)}'"


def suggest(link: str, fallback: str) -> str:
    """A corrected link to offer in a message, unless what the user wrote makes it unprintable or too long
    to read; then the provider's plain example."""
    return link if len(link) <= 100 and link.isprintable() else fallback
