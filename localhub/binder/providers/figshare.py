"""Figshare: `figshare/<DOI>`; detects figshare.com article URLs and figshare DOIs.

Resolves to `<article>.v<version>` (the latest version for an unversioned DOI).
"""

from __future__ import annotations

import re

from ..errors import URL_LIMIT, shown
from ..quoting import encode_ref
from ..spec import LaunchSpec
from . import webapi
from .base import RecordProvider
from .doi import doi_of
from .weburl import parse_web_url

DOI_PREFIX = "10.6084/m9.figshare."
# Article DOIs end in the article id, then an optional version: 10.6084/m9.figshare.9782777.v1
_ARTICLE = re.compile(r"\.(\d+)(?:\.v(\d+))?$")


class Figshare(RecordProvider):
    name = "figshare"
    title = "Figshare"
    example = "figshare/10.6084/m9.figshare.9782777.v1"
    hosts = frozenset({"figshare.com"})
    fetchers = ("Figshare",)
    form_rank = 70

    def from_spec(self, spec: str) -> LaunchSpec:
        doi = doi_of(spec)
        if doi is None or not _ARTICLE.search(doi):
            raise self.bad(f"{shown('figshare/' + spec)} is not a Figshare article DOI")
        return LaunchSpec(self.name, doi)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is not None and (web.host in self.hosts or web.host.endswith(".figshare.com")):
            article, version = _article_from_path(web.parts)
            if article is None:
                raise self.bad(f"{shown(url, URL_LIMIT)} is not a Figshare article page")
            return LaunchSpec(self.name, f"{DOI_PREFIX}{article}" + (f".v{version}" if version else ""))
        doi = doi_of(url)
        if doi is not None and doi.lower().startswith(DOI_PREFIX):
            return self.from_spec(doi)
        return None

    def resolve(self, launch: LaunchSpec) -> str:
        match = _ARTICLE.search(launch.repo)
        if match is None:
            raise self.bad(f"{shown(launch.repo, URL_LIMIT)} is not a Figshare article DOI")
        article, version = match.groups()
        if version:
            # A versioned DOI never changes, like a full commit sha.
            return f"{article}.v{version}"
        what = f"Figshare DOI {launch.repo}"
        versions = webapi.get_json(f"https://api.figshare.com/v2/articles/{article}/versions", what)
        try:
            latest = max(int(entry["version"]) for entry in versions)
        except (TypeError, KeyError, ValueError):
            raise webapi.unexpected(what, "api.figshare.com") from None
        return f"{article}.v{latest}"

    def format_spec(self, launch: LaunchSpec) -> str:
        # Escape only what a URL path cannot hold; ordinary DOIs come out unchanged.
        return encode_ref(launch.repo)


def _article_from_path(parts: tuple[str, ...]) -> tuple[str | None, str | None]:
    """Article id and version from `/articles/[<type>/]<slug>/<id>[/<version>]`."""
    if parts[:1] != ("articles",):
        return None, None
    trailing: list[str] = []
    for part in reversed(parts[1:]):
        if not part.isdigit() or len(trailing) == 2:
            break
        trailing.insert(0, part)
    if not trailing:
        return None, None
    # Versions are small numbers, article ids are not.
    if len(trailing) == 2 and len(trailing[1]) < 4:
        return trailing[0], trailing[1]
    return trailing[-1], None


PROVIDER = Figshare()
