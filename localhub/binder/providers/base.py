"""The provider contract: parse a spec, recognise a plain URL, resolve to an immutable id."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from ..errors import BadLink
from ..spec import LaunchSpec


class Provider(ABC):
    """One source of repositories. Subclasses are stateless; one instance each lives in DEFAULT_PROVIDERS."""

    name: ClassVar[str]  # short name, the first segment of a spec
    title: ClassVar[str]  # for messages: "GitHub", "Zenodo"
    example: ClassVar[str]  # a valid full spec, quoted in error messages
    hosts: ClassVar[frozenset[str]] = frozenset()  # web hosts whose URLs only this provider can read

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
