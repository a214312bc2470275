"""Percent-encoding the way BinderHub's link generator and launch page do it, so specs round-trip exactly."""

from __future__ import annotations

from urllib.parse import quote, unquote

# JavaScript's encodeURIComponent and encodeURI leave these unescaped (besides letters, digits and "-_.~",
# which Python's quote never escapes).
_COMPONENT_SAFE = "!'()*"
_URI_SAFE = ";,/?:@&=+$!*'()#"
# A ref sits in a URL path: keep what a path may hold literally, escape the rest (and "%", so decoding is exact).
_REF_SAFE = "/:@!$&'()*+,;="


def encode_component(text: str) -> str:
    """encodeURIComponent: how BinderHub's UI escapes a repository URL or GitLab namespace into one path segment."""
    return quote(text, safe=_COMPONENT_SAFE)


def encode_uri(text: str) -> str:
    """encodeURI: how BinderHub's launch page escapes a legacy labpath/filepath into a urlpath."""
    return quote(text, safe=_URI_SAFE)


def encode_ref(ref: str) -> str:
    """Escape a git ref for the last part of a spec; slashes stay, as in `gh/org/repo/feature/x`."""
    return quote(ref, safe=_REF_SAFE)


def encode_query_value(value: str) -> str:
    """Escape a query value (urlpath) but keep its slashes readable."""
    return quote(value, safe="/")


def decode(text: str) -> str:
    """Percent-decode; malformed escapes are kept as they are rather than failing."""
    return unquote(text, errors="replace")
