"""Software Heritage (not in BinderHub): `swh/swh:1:dir:<sha1>` or `swh:1:rev:…`, bare or as archive URLs.

A SWHID names content by its hash, so it resolves to itself without any network.
"""

from __future__ import annotations

import re

from ..errors import URL_LIMIT, shown
from ..quoting import decode
from ..spec import LaunchSpec
from .base import RecordProvider
from .weburl import parse_web_url

_SWHID = re.compile(r"swh:1:(?P<type>[a-z]{3}):(?P<hash>[0-9a-f]{40})")
_BUILDABLE = {"dir", "rev"}  # what repo2docker can fetch
_BROWSE = {"directory": "dir", "revision": "rev"}


class SoftwareHeritage(RecordProvider):
    name = "swh"
    title = "Software Heritage"
    example = "swh/swh:1:dir:d198bc9d7a6bcf6db04f476d29314f157507d505"
    hosts = frozenset({"archive.softwareheritage.org", "softwareheritage.org"})
    fetchers = ("Swhid",)
    form_rank = 110

    def from_spec(self, spec: str) -> LaunchSpec:
        # Qualifiers (";origin=…;visit=…") only say where the object was seen; the core id is what is built.
        core = decode(spec).split(";", 1)[0].strip("/")
        match = _SWHID.fullmatch(core)
        if match is None:
            raise self.bad(f"{shown('swh/' + spec)} is not a SWHID")
        if match["type"] not in _BUILDABLE:
            raise self.bad(f"{shown(core)} is a {match['type']} object but only dir and rev objects can be built")
        return LaunchSpec(self.name, core)

    def detect(self, url: str) -> LaunchSpec | None:
        text = url.strip()
        if text.startswith("swh:"):
            return self.from_spec(text)
        web = parse_web_url(text)
        if web is None or web.host not in self.hosts:
            return None
        for part in web.parts:
            if part.startswith("swh:"):
                return self.from_spec(part)
        for kind, short in _BROWSE.items():
            if kind in web.parts[:-1]:
                object_id = web.parts[web.parts.index(kind) + 1]
                return self.from_spec(f"swh:1:{short}:{object_id}")
        raise self.bad(f"{shown(url, URL_LIMIT)} names no directory or revision")

    def resolve(self, launch: LaunchSpec) -> str:
        match = _SWHID.fullmatch(launch.repo)
        if match is None:
            raise self.bad(f"{shown(launch.repo, URL_LIMIT)} is not a SWHID")
        return match["hash"]

    def format_spec(self, launch: LaunchSpec) -> str:
        return launch.repo


PROVIDER = SoftwareHeritage()
