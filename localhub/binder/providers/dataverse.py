"""Dataverse: `dataverse/<DOI>`; detects dataset.xhtml?persistentId= pages on any installation and Harvard DOIs.

Resolves to `<dataset id>.v<major>.<minor>` of the latest version, through the installation's own API.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from ..errors import shown
from ..quoting import encode_ref
from ..spec import LaunchSpec
from . import webapi
from .base import RecordProvider
from .doi import doi_of
from .weburl import parse_web_url

# Harvard's prefix; other installations' DOIs are only known by their dataset page URL.
HARVARD_PREFIX = "10.7910/"
_PAGES = ("dataset.xhtml", "citation")


class Dataverse(RecordProvider):
    name = "dataverse"
    title = "Dataverse"
    example = "dataverse/10.7910/DVN/TJCLKP"
    fetchers = ("Dataverse",)
    form_rank = 90

    def from_spec(self, spec: str) -> LaunchSpec:
        doi = doi_of(spec)
        if doi is None:
            raise self.bad(f"{shown('dataverse/' + spec)} does not end in a DOI")
        return LaunchSpec(self.name, doi)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is not None and web.parts[-1:] and web.parts[-1] in _PAGES:
            persistent = web.param("persistentId") or ""
            if persistent.lower().startswith("doi:"):
                return self.from_spec(persistent)
            return None
        doi = doi_of(url)
        if doi is not None and (doi.startswith(HARVARD_PREFIX) or "/DVN/" in doi.upper()):
            return LaunchSpec(self.name, doi)
        return None

    def resolve(self, launch: LaunchSpec) -> str:
        what = f"Dataverse DOI {launch.repo}"
        # The handle API names the installation that holds the DOI without fetching its landing page.
        handle = webapi.get_json(f"https://doi.org/api/handles/{launch.repo}", what)
        try:
            landing = next(v["data"]["value"] for v in handle["values"] if v["type"] == "URL")
            host = urlsplit(landing).netloc
        except (TypeError, KeyError, StopIteration, AttributeError):
            raise webapi.unexpected(what, "doi.org") from None
        query = urlencode({"persistentId": f"doi:{launch.repo}"})
        answer = webapi.get_json(f"https://{host}/api/datasets/:persistentId?{query}", what)
        try:
            if answer["status"] != "OK":
                raise KeyError("status")
            data = answer["data"]
            latest = data["latestVersion"]
            return f"{data['id']}.v{latest['versionNumber']}.{latest['versionMinorNumber']}"
        except (TypeError, KeyError):
            raise webapi.unexpected(what, host) from None

    def format_spec(self, launch: LaunchSpec) -> str:
        # Escape only what a URL path cannot hold; ordinary DOIs come out unchanged.
        return encode_ref(launch.repo)


PROVIDER = Dataverse()
