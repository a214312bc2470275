"""CKAN: `ckan/<url-encoded dataset URL>`; detects `…/dataset/<name>` URLs on any host.

Resolves to `<name>.v<epoch of metadata_modified>`, as BinderHub does.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

from ..errors import URL_LIMIT, shown
from ..quoting import decode, encode_component
from ..spec import LaunchSpec
from . import webapi
from .base import RecordProvider
from .weburl import parse_web_url


class CKAN(RecordProvider):
    name = "ckan"
    title = "CKAN"
    example = "ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fmy-dataset"
    fetchers = ("CKAN",)
    form_rank = 100
    form_encodes_repository = True

    def from_spec(self, spec: str) -> LaunchSpec:
        url = decode(spec).rstrip("/")
        if _dataset_of(url) is None:
            raise self.bad(f"{shown('ckan/' + spec)} is not a URL-encoded CKAN dataset URL")
        return LaunchSpec(self.name, url)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is None or web.scheme not in ("http", "https"):
            return None
        url = urlsplit(url.strip())._replace(fragment="").geturl().rstrip("/")
        return LaunchSpec(self.name, url) if _dataset_of(url) else None

    def resolve(self, launch: LaunchSpec) -> str:
        found = _dataset_of(launch.repo)
        if found is None:
            raise self.bad(f"{shown(launch.repo, URL_LIMIT)} is not a CKAN dataset URL")
        api, dataset, activity = found
        what = f"CKAN dataset {launch.repo}"
        if activity:
            url = f"{api}activity_data_show?" + urlencode({"id": activity, "object_type": "package"})
        else:
            url = f"{api}package_show?" + urlencode({"id": dataset})
        answer = webapi.get_json(url, what)
        try:
            modified = answer["result"]["metadata_modified"]
            stamp = datetime.fromisoformat(modified)
            # CKAN writes UTC without saying so.
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
        except (TypeError, KeyError, ValueError):
            raise webapi.unexpected(what, urlsplit(api).hostname or api) from None
        return f"{dataset}.v{int(stamp.timestamp())}"

    def format_spec(self, launch: LaunchSpec) -> str:
        return encode_component(launch.repo)


def _dataset_of(url: str) -> tuple[str, str, str | None] | None:
    """(action API base, dataset name, activity id or None) for a CKAN dataset URL, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or "/dataset/" not in parts.path:
        return None
    # CKAN may live under a path prefix; the API sits next to /dataset/.
    prefix, _, rest = parts.path.partition("/dataset/")
    segments = [s for s in rest.split("/") if s]
    if not segments:
        return None
    activity = None
    if "history" in segments[:-1]:
        activity = segments[segments.index("history") + 1]
    elif parse_qs(parts.query).get("activity_id"):
        activity = parse_qs(parts.query)["activity_id"][0]
    api = parts._replace(path=f"{prefix}/api/3/action/", query="", fragment="").geturl()
    return api, segments[0], activity


PROVIDER = CKAN()
