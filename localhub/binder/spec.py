"""LaunchSpec: what to build (provider, repository, ref) and what to open once it runs (urlpath)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import BadLink, echo
from .quoting import encode_query_value


RESOLVE_TIMEOUT = 3.0  # seconds; an offline laptop's resolver may never answer


@dataclass(frozen=True)
class LaunchSpec:
    """One Binder launch, provider-neutral.

    provider: short name (gh, gl, gist, git, zenodo, figshare, hydroshare, dataverse, ckan, swh, bb, local).
    repo: what repo2docker is given: a clone URL, a DOI, a record URL, a SWHID or an absolute local path.
    ref: git ref as the user wrote it (branch, tag, sha, "HEAD"); None for providers without refs
         and for a local directory built as it is on disk.
    urlpath: path inside the Jupyter server to open after launch, without a leading slash; None for the default.
    """

    provider: str
    repo: str
    ref: str | None = None
    urlpath: str | None = None

    def __post_init__(self) -> None:
        # Percent-decoding can make control characters out of printable text (%1B): none may reach a
        # repository, ref or path, where a terminal or page would later print them.
        for label, value in (("repository", self.repo), ("ref", self.ref), ("path to open", self.urlpath)):
            if value is not None and not value.isprintable():
                raise BadLink(f"The {label} {echo(value)} holds control characters, which no link may carry "
                              "(even percent-encoded); a valid link looks like gh/org/repo/HEAD.")

    @property
    def environment(self) -> str:
        """What is built: the repository, whatever ref named it (`gh:https://github.com/org/repo`). With the
        resolved id it names one image, so `…/HEAD` and `…/main` at the same commit share it."""
        return f"{self.provider}:{self.repo}"

    @property
    def reaches_inside(self) -> bool:
        """True when the link names what only this machine can reach: a folder of it (`local/…`, `git/<a path or
        file:// URL>`) or a repository on it or its local network (`git/http://127.0.0.1:…`, `ssh://gitserver/…`,
        a CKAN site at 192.168.…). A web page of another site must not be able to make a signed-in browser
        build it (binder_web.py asks first)."""
        if self.provider == "local":
            return True
        if self.repo.startswith("/") or self.repo.lower().startswith("file:"):
            return True
        return is_inside_host(host_of(self.repo))

    async def reaches_inside_once_resolved(self, timeout: float = RESOLVE_TIMEOUT) -> bool:
        """reaches_inside, or a host whose name the resolver answers with an address of this machine or its network
        (`git.example.org` set to 192.168.1.5, `127.0.0.1.nip.io`): the name alone does not say so. Asked only for a
        request from another site. A name that does not resolve in time counts as outside, as the build could not
        reach it either; a name whose answer changes between this look and the build's is not caught."""
        if self.reaches_inside:
            return True
        host = host_of(self.repo)
        return bool(host) and any(is_inside_host(address) for address in await resolve(host, timeout))

    @property
    def spec(self) -> str:
        """`<provider>/<spec>` exactly as BinderHub writes it after /v2/, e.g. `gh/org/repo/HEAD`."""
        # Imported here because every provider module imports LaunchSpec.
        from .providers import get_provider

        return f"{self.provider}/{get_provider(self.provider).format_spec(self)}"

    @property
    def display_name(self) -> str:
        """The repository as people name it: `org/repo`, `Zenodo 10.5281/zenodo.3242074`, a URL or a folder."""
        from .providers import get_provider

        return get_provider(self.provider).display_name(self)

    @property
    def title(self) -> str:
        """What a launch page says it does, as mybinder.org does: `Starting org/repo at main`."""
        return f"Starting {self.display_name}" + (f" at {self.ref}" if self.ref else "")

    def binder_path(self) -> str:
        """The launch path on any BinderHub-compatible host: `/v2/<spec>[?urlpath=...]`."""
        path = f"/v2/{self.spec}"
        if self.urlpath:
            path += f"?urlpath={encode_query_value(self.urlpath)}"
        return path

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape `localhub spec URL --json` prints."""
        return {
            "provider": self.provider,
            "repo": self.repo,
            "ref": self.ref,
            "urlpath": self.urlpath,
            "spec": self.spec,
        }


# Names that only a local network resolves (RFC 6761/6762/8375 and common practice)
INSIDE_SUFFIXES = (".localhost", ".local", ".lan", ".internal", ".intranet", ".home", ".home.arpa", ".corp")


def host_of(repo: str) -> str | None:
    """The host a repository address names: `scheme://[user@]host[:port]/…` or git's `user@host:path`."""
    if "://" in repo:
        try:
            return urlsplit(repo).hostname
        except ValueError:  # an unbalanced [ in the host part
            return None
    if "@" in repo and ":" in repo.split("@", 1)[1]:
        return repo.split("@", 1)[1].split(":", 1)[0].lower()
    return None


def is_inside_host(host: str | None) -> bool:
    """Whether `host` is this machine or its local network: a loopback, private, link-local or unspecified
    address in any spelling git and curl accept (127.1, 2130706433, 0x7f.0.0.1, ::ffff:10.0.0.1), `localhost`,
    a local-only name (….local, ….lan, …) or a single label (`gitserver`: a name the local resolver completes).
    A public-looking name that resolves to such an address is not caught here (resolve() asks for its addresses)."""
    if not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.inet_aton(host))  # the legacy forms inet_aton reads
        except OSError:
            return host == "localhost" or "." not in host or host.endswith(INSIDE_SUFFIXES)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified


async def resolve(host: str, timeout: float = RESOLVE_TIMEOUT) -> list[str]:
    """Every address the resolver gives for `host` (none when it fails or does not answer within `timeout`)."""
    loop = asyncio.get_running_loop()
    try:
        answers = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout)
    except (OSError, UnicodeError, asyncio.TimeoutError):
        return []
    return [str(sockaddr[0]).split("%", 1)[0] for *_, sockaddr in answers]  # without an IPv6 zone (fe80::1%eth0)
