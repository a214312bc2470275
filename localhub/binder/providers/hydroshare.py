"""HydroShare: `hydroshare/<resource id>` (or an encoded resource URL); resolves to `<id>.v<modified epoch>`."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from ..errors import URL_LIMIT, shown
from ..quoting import decode
from ..spec import LaunchSpec
from . import webapi
from .base import RecordProvider
from .doi import doi_of
from .weburl import parse_web_url

BASE = "https://www.hydroshare.org/resource/"
_RESOURCE_ID = re.compile(r"[0-9a-f]{32}")


class HydroShare(RecordProvider):
    name = "hydroshare"
    title = "HydroShare"
    example = "hydroshare/8f7c2f0341ef4180b0dbe97f59130756"
    hosts = frozenset({"hydroshare.org"})
    fetchers = ("Hydroshare",)
    form_rank = 80

    def from_spec(self, spec: str) -> LaunchSpec:
        # BinderHub accepts the bare id or any (encoded) text holding it, such as the resource URL.
        match = _RESOURCE_ID.search(decode(spec))
        if match is None:
            raise self.bad(f"{shown('hydroshare/' + spec)} holds no 32-character resource id")
        return LaunchSpec(self.name, BASE + match[0])

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is not None and web.host in self.hosts:
            if not any(_RESOURCE_ID.fullmatch(p) for p in web.parts):
                raise self.bad(f"{shown(url, URL_LIMIT)} is not a HydroShare resource page")
            return self.from_spec(url)
        doi = doi_of(url)
        if doi is not None and doi.lower().startswith("10.4211/hs."):
            return self.from_spec(doi)
        return None

    def resolve(self, launch: LaunchSpec) -> str:
        resource = self.format_spec(launch)
        what = f"HydroShare resource {resource}"
        meta = webapi.get_json(f"https://www.hydroshare.org/hsapi/resource/{resource}/scimeta/elements", what)
        try:
            modified = next(d["start_date"] for d in meta["dates"] if d["type"] == "modified")
            # HydroShare always answers in the same zone; drop fractions and zone, read as UTC like BinderHub.
            stamp = datetime.strptime(modified.split(".")[0][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
        except (TypeError, KeyError, StopIteration, ValueError, AttributeError):
            raise webapi.unexpected(what, "www.hydroshare.org") from None
        return f"{resource}.v{int(stamp.timestamp())}"

    def format_spec(self, launch: LaunchSpec) -> str:
        match = _RESOURCE_ID.search(launch.repo)
        if match is None:
            raise self.bad(f"{shown(launch.repo, URL_LIMIT)} holds no HydroShare resource id")
        return match[0]


PROVIDER = HydroShare()
