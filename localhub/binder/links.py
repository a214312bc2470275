"""Read whatever a researcher pastes (Binder URL on any host, /v2/ path, bare spec, legacy /repo/ link,
plain repository URL, DOI, SWHID, local directory) into a LaunchSpec, or fail with a one-sentence BadLink."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

from .errors import BadLink, echo
from .providers import DEFAULT_PROVIDERS, find_provider, get_provider, parse_spec
from .providers.doi import doi_of
from .providers.weburl import parse_web_url
from .quoting import encode_uri
from .spec import LaunchSpec

EXAMPLE = "https://mybinder.org/v2/gh/org/repo/HEAD"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9-]+((\.[A-Za-z0-9-]+)+(:\d+)?|:\d+)/")
_OWNED_HOSTS = frozenset(host for provider in DEFAULT_PROVIDERS for host in provider.hosts)
# Far above any real Binder link (browsers and servers stop near 8 KB); longer text is refused unread.
MAX_LINK = 4096


def parse_link(text: str) -> LaunchSpec:
    """The LaunchSpec a link names. Raises BadLink (never anything else) for any string it cannot read."""
    if not isinstance(text, str):
        raise BadLink(f"A link must be text, not {type(text).__name__}; a valid link looks like {EXAMPLE}.")
    link = text.strip()
    if not link:
        raise BadLink(f"The link is empty; a valid link looks like {EXAMPLE}.")
    if len(link) > MAX_LINK:
        raise BadLink(f"The link {echo(link)} is {len(link)} characters long, more than any Binder link "
                      f"({MAX_LINK}); a valid link looks like {EXAMPLE}.")
    if not link.isprintable():
        raise BadLink(f"The link {echo(link)} contains control characters; a valid link looks like {EXAMPLE}.")
    scheme = _SCHEME.match(link)
    if scheme and scheme[1].lower() in ("http", "https"):
        return _web_link(link)
    if scheme and link[scheme.end() :].startswith("//"):
        # file://, ssh://, git:// …: only a provider can read these.
        return _detected(link) or _unreadable(link)
    return _bare_link(link)


def _web_link(link: str) -> LaunchSpec:
    try:
        parts = urlsplit(link)
    except ValueError:
        raise BadLink(f"{echo(link)} is not a well-formed URL; a valid link looks like {EXAMPLE}.") from None
    web = parse_web_url(link)
    if web is not None and web.host in _OWNED_HOSTS:
        # github.com/org/v2/… is a repository named v2, not a Binder link.
        return _detected(link) or _unreadable(link)
    at = parts.path.find("/v2/")
    if at >= 0:
        return _binder_spec(parts.path[at + len("/v2/") :], parts.query, link)
    if parts.path.rstrip("/").endswith("/v2"):
        raise BadLink(f"{echo(link)} names no provider after /v2/; a valid link looks like {EXAMPLE}.")
    if parts.path.startswith("/repo/"):
        return _legacy(parts.path[len("/repo/") :], link)
    return _detected(link) or _unreadable(link)


def _bare_link(link: str) -> LaunchSpec:
    path, _, query = link.partition("?")
    if path.startswith(("/v2/", "v2/")):
        return _binder_spec(path.split("v2/", 1)[1], query, link)
    if path.rstrip("/") in ("v2", "/v2"):
        raise BadLink(f"{echo(link)} names no provider after v2/; a valid link looks like {EXAMPLE}.")
    if path.startswith(("/repo/", "repo/")) and not os.path.isdir(link):
        return _legacy(path.split("repo/", 1)[1], link)
    first = path.split("/", 1)[0]
    if find_provider(first) is not None and not os.path.isdir(link):
        return _binder_spec(path, query, link)
    if _HOST_PORT.match(path) and "/v2/" in path:
        # A Binder URL pasted without its scheme: mybinder.org/v2/gh/…, localhost:8765/v2/…
        return _web_link("http://" + link)
    found = _detected(link)
    if found is not None:
        return found
    if "/" in path and _WORD.match(first) and "." not in first and doi_of(link) is None:
        get_provider(first)  # raises the "unknown provider" BadLink
    return _unreadable(link)


def _binder_spec(raw: str, query: str, link: str) -> LaunchSpec:
    """`<provider>/<spec>` as in a /v2/ URL path (still percent-encoded), plus its query string."""
    spec = raw.rstrip("/")
    if not spec:
        raise BadLink(f"{echo(link)} names no provider after v2/; a valid link looks like {EXAMPLE}.")
    if "/" not in spec:
        provider = get_provider(spec)
        raise BadLink(f"{echo(link)} names no repository after {provider.name}/; a valid link looks like {provider.example}.")
    return replace(parse_spec(spec), urlpath=_urlpath(query))


def _legacy(rest: str, link: str) -> LaunchSpec:
    """`/repo/<user>/<repo>[/<path>]` from Binder 1: BinderHub redirects it to gh/<user>/<repo> with urlpath=<path>."""
    user, _, after = rest.partition("/")
    repo, _, path = after.partition("/")
    if not user or not repo:
        raise BadLink(
            f"{echo(link)} is a legacy /repo/ link without user and repository; a valid one looks like /repo/org/repo."
        )
    # BinderHub pins these to "master"; HEAD follows repositories whose default branch has since changed.
    return replace(parse_spec(f"gh/{user}/{repo}/HEAD"), urlpath=_clean_urlpath(path))


def _urlpath(query: str) -> str | None:
    """urlpath from a launch query; legacy labpath and filepath win over it, as on BinderHub's launch page."""
    params = parse_qs(query, keep_blank_values=True)
    for key, prefix in (("labpath", "doc/tree/"), ("filepath", "tree/")):
        value = (params.get(key) or [""])[0].rstrip("/")
        if value:
            return prefix + encode_uri(value.lstrip("/"))
    return _clean_urlpath((params.get("urlpath") or [""])[0])


def _clean_urlpath(urlpath: str) -> str | None:
    # BinderHub's client drops leading slashes before joining urlpath to the server URL.
    return urlpath.lstrip("/") or None


def _detected(link: str) -> LaunchSpec | None:
    for provider in DEFAULT_PROVIDERS:
        found = provider.detect(link)
        if found is not None:
            return found
    return None


def _unreadable(link: str) -> LaunchSpec:
    doi = doi_of(link)
    if doi is not None:
        raise BadLink(
            f"{echo(link)} is a DOI localhub cannot place by itself; write it with its provider, "
            f"as in zenodo/{doi} or dataverse/{doi}."
        )
    raise BadLink(
        f"{echo(link)} is not a Binder link, a repository URL localhub knows or a local directory; "
        f"a valid link looks like {EXAMPLE} (or git/<url-encoded clone URL>/HEAD for any git repository)."
    )
