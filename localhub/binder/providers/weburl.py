"""Split a web or git URL into host and path segments for `detect`, accepting the forms people paste."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>[^/].*)$")
_BARE_HOST = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(/|$)")


@dataclass(frozen=True)
class WebUrl:
    scheme: str  # "https", "ssh", "git", "scp" (for user@host:path) or "" when the user left it out
    host: str  # lower case, without "www." and without port
    parts: tuple[str, ...]  # path segments, still percent-encoded, empty ones dropped
    query: dict[str, list[str]]

    def param(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[0] if values else None


def parse_web_url(text: str) -> WebUrl | None:
    """Parse `https://host/a/b`, `host/a/b`, `ssh://git@host/a/b` or `git@host:a/b`; None for anything else."""
    text = text.strip()
    scp = _SCP.match(text)
    if scp and "://" not in text:
        return WebUrl("scp", _host(scp["host"]), _segments(scp["path"]), {})
    match = _SCHEME.match(text)
    if match:
        scheme = match[1].lower()
    elif _BARE_HOST.match(text):
        scheme, text = "", "https://" + text
    else:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        return None
    if not host:
        return None
    return WebUrl(scheme, _host(host), _segments(parts.path), parse_qs(parts.query))


def _host(host: str) -> str:
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)
