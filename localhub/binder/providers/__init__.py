"""The providers, in detection order, and lookup by short name.

Adding a provider: write `providers/<name>.py` exposing `PROVIDER` (a Provider, or a RecordProvider for
records, declaring its facts: how repo2docker fetches it, its launch-form fields, …), then add it to
DEFAULT_PROVIDERS below; the launcher, the launch form and the builder read everything else from it.
Order matters only for `detect`: host-specific providers first, then the catch-alls (CKAN, git, local).
"""

from __future__ import annotations

from ..errors import BadLink, echo
from ..spec import LaunchSpec
from . import bb, ckan, dataverse, figshare, gh, gist, git, gl, hydroshare, local, swh, zenodo
from .base import Provider, RecordProvider

DEFAULT_PROVIDERS: tuple[Provider, ...] = (
    gh.PROVIDER,
    gist.PROVIDER,
    gl.PROVIDER,
    bb.PROVIDER,
    zenodo.PROVIDER,
    figshare.PROVIDER,
    hydroshare.PROVIDER,
    dataverse.PROVIDER,
    swh.PROVIDER,
    ckan.PROVIDER,
    git.PROVIDER,
    local.PROVIDER,
)

_BY_NAME: dict[str, Provider] = {provider.name: provider for provider in DEFAULT_PROVIDERS}


def provider_names() -> tuple[str, ...]:
    """Known short names, sorted, for messages and completion."""
    return tuple(sorted(_BY_NAME))


def find_provider(name: str) -> Provider | None:
    return _BY_NAME.get(name)


def get_provider(name: str) -> Provider:
    """The provider with this short name; BadLink listing the known ones when there is none."""
    provider = _BY_NAME.get(name)
    if provider is None:
        raise BadLink(
            f"Unknown provider {echo(name)}; known providers are {', '.join(provider_names())}, "
            f"as in gh/org/repo/HEAD."
        )
    return provider


def parse_spec(spec: str) -> LaunchSpec:
    """Parse a full spec `<provider>/<rest>` (as after /v2/ in a Binder URL)."""
    name, _, rest = spec.partition("/")
    provider = get_provider(name)
    if not rest.strip("/"):
        raise BadLink(f"{name}/ names no repository; a valid link looks like {provider.example}.")
    return provider.from_spec(rest)


def resolve(launch: LaunchSpec) -> str:
    """The immutable id `launch` names now (commit sha, record version, content hash). Raises ResolveError."""
    return get_provider(launch.provider).resolve(launch)


__all__ = ["DEFAULT_PROVIDERS", "Provider", "RecordProvider", "find_provider", "get_provider", "parse_spec", "provider_names", "resolve"]
