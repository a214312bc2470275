"""The one place that talks HTTP to the internet (DOI and record APIs); tests replace `fetch` and nothing else."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

USER_AGENT = "localhub (Binder at home)"


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class FetchError(Exception):
    """The fetch failed. `status` is the HTTP status, or None when the host could not be reached at all."""

    def __init__(self, url: str, status: int | None, reason: str) -> None:
        super().__init__(f"{url}: {status or 'unreachable'} {reason}")
        self.url = url
        self.status = status
        self.reason = reason


def fetch(url: str, *, timeout: float = 30.0) -> Response:
    """GET `url`, following redirects."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json, */*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return Response(url=answer.geturl(), status=answer.status, body=answer.read())
    except urllib.error.HTTPError as err:
        raise FetchError(url, err.code, str(err.reason)) from None
    except urllib.error.URLError as err:
        raise FetchError(url, None, str(err.reason)) from None
    except (TimeoutError, OSError) as err:
        raise FetchError(url, None, str(err) or type(err).__name__) from None
