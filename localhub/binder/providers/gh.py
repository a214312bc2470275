"""GitHub: `gh/<owner>/<repo>/<ref>` and github.com URLs (tree, blob, commit, release pages, ssh remotes)."""

from __future__ import annotations

from ..errors import BadLink, URL_LIMIT, echo, shown
from ..quoting import decode
from ..spec import LaunchSpec
from .base import Provider
from .gitremote import resolve_remote_ref
from .ownerrepo import format_owner_repo_ref, parse_owner_repo_ref
from .refs import is_valid_ref
from .weburl import parse_web_url

BASE = "https://github.com/"


class GitHub(Provider):
    name = "gh"
    title = "GitHub"
    example = "gh/org/repo/HEAD"
    hosts = frozenset({"github.com"})
    tree_path = "tree/"
    form_rank = 10

    def from_spec(self, spec: str) -> LaunchSpec:
        parsed = parse_owner_repo_ref(spec, self.name, self.title)
        return LaunchSpec(self.name, f"{BASE}{parsed.owner}/{parsed.repo}", parsed.ref)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is None or web.host not in self.hosts:
            return None
        if len(web.parts) < 2:
            raise self.bad(f"{shown(url, URL_LIMIT)} names no repository")
        owner, repo = web.parts[0], web.parts[1].removesuffix(".git")
        ref, urlpath = "HEAD", None
        kind, rest = (web.parts[2], web.parts[3:]) if len(web.parts) > 2 else ("", ())
        # GitHub writes refs unescaped inside the path, so a ref with a slash cannot be told from a
        # directory here; like BinderHub, take the first segment as the ref.
        if kind in ("tree", "blob", "commit", "commits") and rest:
            ref = decode(rest[0])
            if len(rest) > 1:
                path = "/".join(rest[1:])
                urlpath = f"doc/tree/{path}" if kind == "blob" else f"tree/{path}"
        elif kind == "releases" and len(rest) >= 2 and rest[0] == "tag":
            ref = decode(rest[1])
        if not is_valid_ref(ref):
            raise self.bad(f"{echo(ref)} in {shown(url, URL_LIMIT)} is not a valid git ref")
        launch = self.from_spec(f"{owner}/{repo}/HEAD")
        return LaunchSpec(self.name, launch.repo, ref, urlpath)

    def resolve(self, launch: LaunchSpec) -> str:
        return resolve_remote_ref(launch.repo, launch.ref or "HEAD")

    def format_spec(self, launch: LaunchSpec) -> str:
        owner, _, repo = launch.repo.removeprefix(BASE).partition("/")
        if not launch.repo.startswith(BASE) or not repo:
            raise BadLink(f"{shown(launch.repo, URL_LIMIT)} is not a GitHub repository URL; a valid one looks like {BASE}org/repo.")
        return format_owner_repo_ref(owner, repo, launch.ref or "HEAD")


PROVIDER = GitHub()
