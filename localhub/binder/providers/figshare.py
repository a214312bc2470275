"""Figshare: `figshare/<DOI>`; detects figshare.com article URLs and figshare DOIs. Resolves to `<article>.v<version>`."""

from __future__ import annotations

import re

from ..spec import LaunchSpec
from . import webapi
from .base import Provider
from .doi import doi_of
from .weburl import parse_web_url

DOI_PREFIX = "10.6084/m9.figshare."
# Article DOIs end in the article id, then an optional version: 10.6084/m9.figshare.9782777.v1
_ARTICLE = re.compile(r"\.(\d+)(?:\.v(\d+))?$")


class Figshare(Provider):
    name = "figshare"
    title = "Figshare"
    example = "figshare/10.6084/m9.figshare.9782777.v1"
    hosts = frozenset({"figshare.com"})

    def from_spec(self, spec: str) -> LaunchSpec:
        doi = doi_of(spec)
        if doi is None or not _ARTICLE.search(doi):
            raise self.bad(f"figshare/{spec} is not a Figshare article DOI")
        return LaunchSpec(self.name, doi)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is not None and (web.host in self.hosts or web.host.endswith(".figshare.com")):
            numbers = [p for p in web.parts[1:] if p.isdigit()] if web.parts[:1] == ("articles",) else []
            tail = list(web.parts[-2:])
            if not numbers:
                raise self.bad(f"{url} is not a Figshare article page")
            if len(tail) == 2 and all(p.isdigit() for p in tail) and len(tail[1]) < 4:
                return LaunchSpec(self.name, f"{DOI_PREFIX}{tail[0]}.v{tail[1]}")
            return LaunchSpec(self.name, f"{DOI_PREFIX}{numbers[-1]}")
        doi = doi_of(url)
        if doi is not None and doi.lower().startswith(DOI_PREFIX):
            return self.from_spec(doi)
        return None

    def resolve(self, launch: LaunchSpec) -> str:
        match = _ARTICLE.search(launch.repo)
        if match is None:
            raise self.bad(f"{launch.repo} is not a Figshare article DOI")
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
        return launch.repo


PROVIDER = Figshare()
