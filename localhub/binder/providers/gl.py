"""GitLab.com: `gl/<url-encoded namespace>/<ref>` and gitlab.com URLs (`/-/tree/`, `/-/blob/`, `/-/commit/`)."""

from __future__ import annotations

from ..errors import BadLink, URL_LIMIT, echo, shown, suggest
from ..quoting import decode, encode_component, encode_ref
from ..spec import LaunchSpec
from .base import Provider
from .gitremote import resolve_remote_ref
from .refs import is_valid_ref
from .weburl import parse_web_url

BASE = "https://gitlab.com/"


class GitLab(Provider):
    name = "gl"
    title = "GitLab"
    example = "gl/group%2Frepo/HEAD"
    hosts = frozenset({"gitlab.com"})
    tree_path = "-/tree/"
    form_rank = 20
    form_encodes_repository = True

    def from_spec(self, spec: str) -> LaunchSpec:
        quoted, _, ref = spec.partition("/")
        namespace, ref = decode(quoted).strip("/"), decode(ref).rstrip("/")
        if "/" not in namespace:
            # Usually an unencoded namespace: gl/group/repo/main means namespace "group", ref "repo/main".
            head, _, rest = ref.partition("/")
            fixed = f"gl/{encode_component(namespace + '/' + head)}/{rest or 'HEAD'}" if head else self.example
            raise BadLink(
                f"{shown('gl/' + spec)} has no group/project path (it must be URL-encoded as one segment); "
                f"a valid link looks like {suggest(fixed, self.example)}."
            )
        if not ref:
            raise BadLink(f"{shown('gl/' + quoted)} has no ref; "
                          f"a valid link looks like {suggest(f'gl/{quoted}/HEAD', self.example)}.")
        if not is_valid_ref(ref):
            raise self.bad(f"{echo(ref)} is not a valid git ref")
        if any(not part or part.startswith(".") or part in ("-",) for part in namespace.split("/")):
            raise self.bad(f"{echo(namespace)} is not a valid GitLab project path")
        return LaunchSpec(self.name, f"{BASE}{namespace}.git", ref)

    def detect(self, url: str) -> LaunchSpec | None:
        web = parse_web_url(url)
        if web is None or web.host not in self.hosts:
            return None
        parts = list(web.parts)
        # Everything before "/-/" is the (possibly nested) project path.
        cut = parts.index("-") if "-" in parts else len(parts)
        namespace, tail = [decode(p) for p in parts[:cut]], parts[cut + 1 :]
        if namespace:
            namespace[-1] = namespace[-1].removesuffix(".git")
        if len(namespace) < 2:
            raise self.bad(f"{shown(url, URL_LIMIT)} names no project")
        ref, urlpath = "HEAD", None
        if len(tail) >= 2 and tail[0] in ("tree", "blob", "commit", "commits"):
            ref = decode(tail[1])
            if len(tail) > 2:
                path = "/".join(tail[2:])
                urlpath = f"doc/tree/{path}" if tail[0] == "blob" else f"tree/{path}"
        launch = self.from_spec(f"{encode_component('/'.join(namespace))}/{encode_ref(ref)}")
        return LaunchSpec(self.name, launch.repo, launch.ref, urlpath)

    def resolve(self, launch: LaunchSpec) -> str:
        return resolve_remote_ref(launch.repo, launch.ref or "HEAD")

    def format_spec(self, launch: LaunchSpec) -> str:
        if not launch.repo.startswith(BASE):
            raise BadLink(f"{shown(launch.repo, URL_LIMIT)} is not a GitLab.com URL; a valid one looks like {BASE}group/repo.git.")
        namespace = launch.repo.removeprefix(BASE).removesuffix(".git")
        return f"{encode_component(namespace)}/{encode_ref(launch.ref or 'HEAD')}"


PROVIDER = GitLab()
