"""Zenodo: `zenodo/<DOI>`; detects zenodo.org record URLs and Zenodo DOIs. Resolves to the (latest) record id."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import URL_LIMIT, shown
from ..quoting import encode_ref
from ..spec import LaunchSpec
from . import webapi
from .base import RecordProvider
from .doi import doi_of
from .weburl import parse_web_url

DOI_PREFIX = "10.5281/zenodo."


class Zenodo(RecordProvider):
    name = "zenodo"
    title = "Zenodo"
    example = "zenodo/10.5281/zenodo.3242074"
    hosts = frozenset({"zenodo.org"})
    fetchers = ("Zenodo",)
    form_rank = 60

    def from_spec(self, spec: str) -> LaunchSpec:
        doi = doi_of(spec)
        if doi is None:
            raise self.bad(f"{shown('zenodo/' + spec)} does not end in a DOI")
        return LaunchSpec(self.name, doi)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is not None and web.host in self.hosts:
            parts = web.parts
            if len(parts) >= 2 and parts[0] in ("record", "records") and parts[1].isdigit():
                return LaunchSpec(self.name, DOI_PREFIX + parts[1])
            if len(parts) >= 3 and parts[0] == "doi":
                return self.from_spec("/".join(parts[1:]))
            raise self.bad(f"{shown(url, URL_LIMIT)} is not a Zenodo record page")
        doi = doi_of(url)
        if doi is not None and doi.lower().startswith(DOI_PREFIX):
            return LaunchSpec(self.name, doi)
        return None

    def resolve(self, launch: LaunchSpec) -> str:
        what = f"Zenodo DOI {launch.repo}"
        # doi.org redirects a concept DOI to the newest version's record page, whose id we keep.
        answer = webapi.get(f"https://doi.org/{launch.repo}", what)
        record = urlsplit(answer.url).path.rstrip("/").rsplit("/", 1)[-1]
        if not record.isdigit():
            raise webapi.unexpected(what, urlsplit(answer.url).hostname or "doi.org")
        return record

    def format_spec(self, launch: LaunchSpec) -> str:
        # Escape only what a URL path cannot hold; ordinary DOIs come out unchanged.
        return encode_ref(launch.repo)


PROVIDER = Zenodo()
