"""GitHub gists: `gist/<user>/<gist-id>[/<ref>]` and gist.github.com URLs (with an optional revision)."""

from __future__ import annotations

import re

from ..errors import BadLink, URL_LIMIT, echo, shown
from ..quoting import decode, encode_ref
from ..spec import LaunchSpec
from .base import Provider
from .gitremote import resolve_remote_ref
from .refs import is_valid_ref
from .weburl import parse_web_url

BASE = "https://gist.github.com/"
_USER = re.compile(r"[A-Za-z0-9-]+")
_GIST_ID = re.compile(r"[0-9A-Za-z]+")
# BinderHub treats these as "the latest revision" for gists.
_LATEST = {"", "HEAD", "master", "main"}


class Gist(Provider):
    name = "gist"
    title = "gist"
    example = "gist/user/0123456789abcdef0123456789abcdef/HEAD"
    hosts = frozenset({"gist.github.com"})
    form_rank = 40

    def from_spec(self, spec: str) -> LaunchSpec:
        # the revision may hold slashes (a branch of the gist's repository), as refs do in gh/ specs
        parts = [decode(part) for part in spec.strip("/").split("/", 2)]
        if len(parts) < 2:
            raise self.bad(f"{shown('gist/' + spec)} is not user/gist-id[/ref]")
        user, gist_id = parts[0], parts[1].removesuffix(".git")
        ref = parts[2] if len(parts) == 3 else "HEAD"
        if not _USER.fullmatch(user) or not _GIST_ID.fullmatch(gist_id):
            raise self.bad(f"{shown('gist/' + spec)} has an invalid user or gist id")
        if not is_valid_ref(ref):
            raise self.bad(f"{echo(ref)} is not a valid gist revision")
        return LaunchSpec(self.name, f"{BASE}{user}/{gist_id}.git", ref)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is None or web.host not in self.hosts:
            return None
        if len(web.parts) == 1:
            raise self.bad(f"{shown(url, URL_LIMIT)} has no user name, which a gist link needs")
        if len(web.parts) not in (2, 3):
            raise self.bad(f"{shown(url, URL_LIMIT)} is not a gist page")
        return self.from_spec("/".join(web.parts))

    def resolve(self, launch: LaunchSpec) -> str:
        ref = launch.ref or "HEAD"
        return resolve_remote_ref(launch.repo, "HEAD" if ref in _LATEST else ref)

    def format_spec(self, launch: LaunchSpec) -> str:
        user, _, gist_id = launch.repo.removeprefix(BASE).removesuffix(".git").partition("/")
        if not launch.repo.startswith(BASE) or not gist_id:
            raise BadLink(f"{shown(launch.repo, URL_LIMIT)} is not a gist URL; a valid one looks like {BASE}user/gist-id.git.")
        return f"{user}/{gist_id}/{encode_ref(launch.ref or 'HEAD')}"


PROVIDER = Gist()
