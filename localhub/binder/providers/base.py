"""The provider contract: parse a spec, recognise a plain URL, resolve to an immutable id; and every other fact
the rest of localhub needs about a provider (how repo2docker fetches it, how a launch is pinned, its fields
in the launch form, how its server is named), so that a new provider is one file plus its registration."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import ClassVar
from urllib.parse import quote, urlsplit

from ..errors import BadLink
from ..spec import LaunchSpec


class Provider(ABC):
    """One source of repositories. Subclasses are stateless; one instance each lives in DEFAULT_PROVIDERS.

    The defaults describe a git repository; RecordProvider those of a record (a DOI, a dataset, a SWHID)."""

    name: ClassVar[str]  # short name, the first segment of a spec
    title: ClassVar[str]  # for messages: "GitHub", "Zenodo"
    example: ClassVar[str]  # a valid full spec, quoted in error messages
    hosts: ClassVar[frozenset[str]] = frozenset()  # web hosts whose URLs only this provider can read
    # repo2docker content providers that may fetch it (only these are tried: see images/repo2docker_config.py)
    fetchers: ClassVar[tuple[str, ...]] = ("Local", "Git")
    refs_are_commits: ClassVar[bool] = True  # its ref resolves to a commit, which pins a launch to it
    tree_path: ClassVar[str | None] = None  # where its web pages show a commit's tree ("tree/" on GitHub)
    form_rank: ClassVar[int] = 50  # its place in the launch form's list of providers (lowest first)
    form_encodes_repository: ClassVar[bool] = False  # the form's repository field is one URL-encoded segment
    form_has_ref: ClassVar[bool] = True  # the form's ref field belongs in its spec
    # the form's repository field may hold a URL that is the repository itself (a clone URL), rather than a web
    # page to recognise as any link would be
    form_takes_urls: ClassVar[bool] = False

    @abstractmethod
    def from_spec(self, spec: str) -> LaunchSpec:
        """Parse the part of a BinderHub spec after `<name>/` (still percent-encoded as in a URL path)."""

    @abstractmethod
    def detect(self, url: str) -> LaunchSpec | None:
        """Recognise a plain repository/record URL (or id) of this provider; None when it is not one.

        Raises BadLink when the URL clearly belongs to this provider but cannot be used as it is.
        """

    @abstractmethod
    def resolve(self, launch: LaunchSpec) -> str:
        """An immutable id for what `launch` names right now (commit sha, record version...). Raises ResolveError."""

    @abstractmethod
    def format_spec(self, launch: LaunchSpec) -> str:
        """The inverse of from_spec: the part of the spec after `<name>/`."""

    def bad(self, problem: str) -> BadLink:
        """A one-sentence BadLink: the problem, then what a valid spec of this provider looks like."""
        return BadLink(f"{problem}; a valid {self.title} link looks like {self.example}.")

    # --- facts derived from the declarations above; override where a provider differs ---------------------

    def build_source(self, launch: LaunchSpec, resolved: str) -> tuple[str, str | None]:
        """What repo2docker is given: the repository and the ref to check out (None: build it as it is)."""
        return launch.repo, resolved

    def pinned_spec(self, launch: LaunchSpec, resolved: str) -> str:
        """The spec that names exactly this build (BinderHub's persistent request): the ref replaced by the
        commit it resolved to, where refs are commits."""
        if self.refs_are_commits and launch.ref is not None:
            return replace(launch, ref=resolved, urlpath=None).spec
        return launch.spec

    def ref_url(self, launch: LaunchSpec, resolved: str) -> str:
        """A web page of what was built (BINDER_REF_URL): the commit's tree where the host shows one."""
        repo = launch.repo.removesuffix(".git")
        if self.tree_path and repo.startswith("http"):
            return f"{repo}/{self.tree_path}{resolved}"
        return launch.repo

    def display_name(self, launch: LaunchSpec) -> str:
        """What people call the repository in a sentence ("Starting org/repo at main"): its path on a host this
        provider owns (`org/repo`), else the repository without its URL scheme."""
        repo = launch.repo.removesuffix(".git")
        try:
            parts = urlsplit(repo)
        except ValueError:
            return repo
        host = (parts.hostname or "").removeprefix("www.")
        if parts.scheme in ("http", "https") and host in self.hosts and parts.path.strip("/"):
            return parts.path.strip("/")
        return repo.split("://", 1)[-1]

    def server_name_stem(self, launch: LaunchSpec) -> str:
        """The readable part of its server's name, before slugging: the repository's last path segment."""
        return launch.repo.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")

    def form_spec(self, repository: str, ref: str) -> str:
        """The spec the launch form's repository and ref fields make, for the repository as the form took it."""
        body = quote(repository, safe="") if self.form_encodes_repository else repository.strip("/")
        return f"{self.name}/{body}" + (f"/{quote(ref or 'HEAD', safe='')}" if self.form_has_ref else "")


class RecordProvider(Provider):
    """A record (DOI, dataset, archive id) rather than a git repository: fetched by its own repo2docker content
    provider, without refs, and named after the provider too (`zenodo-3242074`)."""

    refs_are_commits = False
    form_has_ref = False

    def server_name_stem(self, launch: LaunchSpec) -> str:
        return f"{self.name}-{super().server_name_stem(launch)}"

    def display_name(self, launch: LaunchSpec) -> str:
        return f"{self.title} {super().display_name(launch)}"
