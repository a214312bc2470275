"""HTTP lookups for record providers: `httpfetch.fetch` with failures turned into one-sentence ResolveErrors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .. import httpfetch
from ..errors import ResolveError, shown


def get(url: str, what: str) -> httpfetch.Response:
    """GET `url` to resolve `what` (e.g. "Zenodo DOI 10.5281/zenodo.1")."""
    try:
        return httpfetch.fetch(url)
    except httpfetch.FetchError as err:
        host = urlsplit(url).hostname or url
        if err.status is None:
            raise ResolveError(
                f"Could not reach {host} to resolve {what}: no network ({err.reason}).", kind="network"
            ) from None
        if err.status in (404, 410):
            raise ResolveError(f"{shown(what)} was not found ({host} answered {err.status}).", kind="repo") from None
        raise ResolveError(f"{host} answered HTTP {err.status} while resolving {shown(what)}.", kind="other") from None


def get_json(url: str, what: str) -> Any:
    answer = get(url, what)
    try:
        return answer.json()
    except ValueError:
        host = urlsplit(url).hostname
        raise ResolveError(f"{host} sent something that is not JSON while resolving {shown(what)}.") from None


def unexpected(what: str, host: str) -> ResolveError:
    return ResolveError(f"{host} sent an answer localhub does not understand while resolving {shown(what)}.")
