"""Any git repository: `git/<url-encoded clone URL>/<ref>`; detects ssh/git remotes and `.git` URLs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..errors import BadLink, echo, shown, suggest
from ..quoting import decode, encode_component, encode_ref
from ..spec import LaunchSpec
from .base import Provider
from .gitremote import resolve_remote_ref
from .localpath import check_folder, file_url_path
from .refs import is_valid_ref
from .weburl import parse_web_url

# BinderHub allows http(s), git and ssh; a machine of one's own can also clone file:// URLs and paths.
ALLOWED_SCHEMES = frozenset({"http", "https", "git", "ssh", "file"})
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:[^/]")
_UNENCODED = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:$")


class Git(Provider):
    name = "git"
    title = "git"
    example = "git/https%3A%2F%2Fexample.org%2Frepo.git/HEAD"
    form_rank = 30
    form_encodes_repository = True
    form_takes_urls = True

    def from_spec(self, spec: str) -> LaunchSpec:
        quoted, _, ref = spec.partition("/")
        if _UNENCODED.match(quoted):
            # `git/https://host/repo.git/main`: the URL's own slashes make the spec ambiguous.
            raise BadLink(
                f"The repository URL in {shown('git/' + spec)} is not URL-encoded; "
                f"a valid link looks like {suggest(_encoded_suggestion(spec), self.example)}."
            )
        repo, ref = decode(quoted), decode(ref).rstrip("/")
        scheme = _scheme(repo)
        if scheme not in ALLOWED_SCHEMES:
            raise self.bad(f"{echo(repo)} is not a git URL (use http, https, git, ssh, file or an absolute path)")
        if not ref:
            raise self.bad(f"{shown('git/' + quoted)} has no ref, add /HEAD for the default branch")
        if not is_valid_ref(ref):
            raise self.bad(f"{echo(ref)} is not a valid git ref")
        if scheme == "file":  # a repository of this machine: it must be one now
            _check_local_repository(repo)
        return LaunchSpec(self.name, repo, ref)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is None or web.scheme == "":
            return None
        looks_git = web.scheme in ("ssh", "git", "scp") or (
            web.scheme in ("http", "https") and bool(web.parts) and web.parts[-1].endswith(".git")
        )
        if not looks_git:
            return None
        repo = url.strip()
        if web.scheme != "scp":
            repo = urlsplit(repo)._replace(query="", fragment="").geturl()
        return self.from_spec(f"{encode_component(repo)}/HEAD")

    def resolve(self, launch: LaunchSpec) -> str:
        return resolve_remote_ref(launch.repo, launch.ref or "HEAD")

    def format_spec(self, launch: LaunchSpec) -> str:
        return f"{encode_component(launch.repo)}/{encode_ref(launch.ref or 'HEAD')}"


def _scheme(repo: str) -> str:
    if _SCP.match(repo) and "://" not in repo:
        return "ssh"
    if repo.startswith("/"):
        return "file"
    head, sep, _ = repo.partition("://")
    return head.lower() if sep else ""


def _check_local_repository(repo: str) -> None:
    check_folder(repo if repo.startswith("/") else file_url_path(repo, PROVIDER.bad), git=True)


def _encoded_suggestion(spec: str) -> str:
    url, sep, ref = spec.partition(".git/")
    if sep:
        return f"git/{encode_component(url + '.git')}/{ref.rstrip('/') or 'HEAD'}"
    return f"git/{encode_component(spec.rstrip('/'))}/HEAD"


PROVIDER = Git()
