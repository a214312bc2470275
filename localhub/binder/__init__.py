"""Binder links: parse any Binder link or repository URL into a LaunchSpec and resolve it to an immutable id."""

from .errors import BadLink, ResolveError
from .links import parse_link
from .providers import DEFAULT_PROVIDERS, get_provider, parse_spec, provider_names, resolve
from .resolved import Resolved, ResolvedCache
from .spec import LaunchSpec

__all__ = [
    "DEFAULT_PROVIDERS",
    "BadLink",
    "LaunchSpec",
    "ResolveError",
    "Resolved",
    "ResolvedCache",
    "get_provider",
    "parse_link",
    "parse_spec",
    "provider_names",
    "resolve",
]
