"""Name and catalog the environment images localhub builds.

An environment is a repository at a resolved id, whatever ref named it: `gh/org/repo/HEAD` and
`gh/org/repo/main` at the same commit are one environment and one image. Its image is named
`localhub-env/<slug>-<hash>:<resolved id>`: the slug is the environment's key (`<provider>:<repository>`,
see LaunchSpec.environment) made readable, the 8-character hash of the full key keeps two keys with the
same slug apart (slugs fold case and punctuation, and long ones are cut), and the tag is the commit
(first 12 hex digits) or a hash of any other kind of id. Labels on each image carry the key, the spec
first asked for and the id back, so the catalog never parses names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import urllib.parse
from dataclasses import dataclass

import docker

REPOSITORY = "localhub-env"
BUILDING_REPOSITORY = "localhub-building"  # where an image sits until its build succeeds
LABEL_SPEC = "localhub.spec"  # the spec of the launch that built it
LABEL_ENVIRONMENT = "localhub.environment"  # the repository it was built from (the key of its name)
LABEL_RESOLVED = "localhub.resolved"
LABEL_REPO2DOCKER = "localhub.repo2docker"
LABEL_BUILT = "localhub.built"

_SLUG_MAX = 80  # readable, and far below Docker's 255-character limit for a whole name
_TAG_LEN = 12
_HEX = re.compile(r"^[0-9a-f]+$")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def slug(key: str) -> str:
    """A readable, valid repository path component for an environment key or spec (lossy: see `image_name`)."""
    text = urllib.parse.unquote(key).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(text) > _SLUG_MAX:
        text = text[:_SLUG_MAX].rstrip("-")
    return text or "env"


def tag_for(resolved_id: str) -> str:
    """The tag for a resolved id: a commit's first 12 hex digits, else 12 hex digits of its hash."""
    rid = resolved_id.strip().lower()
    if _HEX.match(rid):
        return rid[:_TAG_LEN]
    return _digest(resolved_id)[:_TAG_LEN]


def image_name(environment: str, resolved_id: str) -> str:
    """Deterministic, valid and readable image reference for an environment (a repository's key, or for
    callers that build by spec, the spec) at `resolved_id`."""
    if not environment or not resolved_id:
        raise ValueError("image_name needs an environment and a resolved id")
    return f"{REPOSITORY}/{slug(environment)}-{_digest(environment)[:8]}:{tag_for(resolved_id)}"


def building_name(name: str, attempt: str) -> str:
    """The name a build of `name` writes to; only a finished build is tagged `name` itself."""
    repository, tag = name.rsplit(":", 1)
    return f"{BUILDING_REPOSITORY}/{repository.split('/', 1)[1]}:{tag}-{attempt}"


def label_value(text: str) -> str:
    """A label value that survives repo2docker's `LABEL key="value"` lines: `"`, `\\`, `$` and
    line breaks are percent-encoded (specs are URL-like, so they practically never carry them)."""
    return re.sub(r'["\\$\r\n]', lambda m: f"%{ord(m[0]):02X}", text)


def image_labels(spec: str, resolved_id: str, extra: dict[str, str] | None = None,
                 environment: str | None = None) -> dict[str, str]:
    """Labels for a build starting now."""
    import repo2docker  # here: importing it loads its buildpacks (~4 MiB), which an idle daemon does without

    labels = {
        LABEL_SPEC: label_value(spec),
        LABEL_ENVIRONMENT: label_value(environment or spec),
        LABEL_RESOLVED: label_value(resolved_id),
        LABEL_REPO2DOCKER: repo2docker.__version__,
        LABEL_BUILT: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    labels.update({k: label_value(str(v)) for k, v in (extra or {}).items()})
    return labels


def content_id(directory: str | os.PathLike) -> str:
    """A hash of a folder's files (names, modes and bytes; `.git` left out) for plain-directory builds."""
    h = hashlib.sha256()
    root = os.fspath(directory)
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            path = os.path.join(here, name)
            rel = os.path.relpath(path, root)
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
            if os.path.islink(path):
                h.update(b"link:" + os.readlink(path).encode("utf-8", "surrogateescape"))
            else:
                h.update(b"x" if os.access(path, os.X_OK) else b"-")
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            h.update(b"\0")
    return "dir-" + h.hexdigest()


@dataclass(frozen=True)
class Environment:
    """An environment image in the local engine."""

    image: str  # the localhub-env/… name
    spec: str
    resolved: str
    size: int  # bytes
    built: dt.datetime | None
    id: str = ""
    repo2docker: str = ""
    environment: str = ""  # the repository it was built from (LaunchSpec.environment)


def _parse_time(text: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _environment(summary: dict, name: str) -> Environment:
    """An Environment from the engine's image summary (GET /images/json): everything the catalog needs is
    in it, so listing costs one request however many images there are."""
    labels = summary.get("Labels") or {}
    return Environment(
        image=name,
        spec=labels.get(LABEL_SPEC, ""),
        resolved=labels.get(LABEL_RESOLVED, ""),
        size=int(summary.get("Size") or 0),
        built=_parse_time(labels.get(LABEL_BUILT)),
        id=summary.get("Id", ""),
        repo2docker=labels.get(LABEL_REPO2DOCKER, ""),
        environment=labels.get(LABEL_ENVIRONMENT, labels.get(LABEL_SPEC, "")),
    )


def find_image(client: docker.DockerClient, environment: str, resolved_id: str):
    """The built image of this environment at this id (a docker-py Image), or None."""
    try:
        image = client.images.get(image_name(environment, resolved_id))
    except docker.errors.ImageNotFound:
        return None
    labels = image.labels or {}
    # The name is a hash of the id; the labels make sure it is this id and not a look-alike (images built
    # before environments had a label of their own carry their key as the spec).
    built_from = labels.get(LABEL_ENVIRONMENT, labels.get(LABEL_SPEC))
    if built_from != label_value(environment) or labels.get(LABEL_RESOLVED) != label_value(resolved_id):
        return None
    return image


def list_environments(client: docker.DockerClient, labels: dict[str, str] | None = None,
                      summaries: list[dict] | None = None) -> list[Environment]:
    """Every tagged environment image, newest first; `labels` narrows the list (e.g. to test images).
    `summaries`: the engine's image summaries (GET /images/json) when the caller has read them already."""
    labels = labels or {}
    if summaries is None:
        # the summaries, not docker-py's images.list(), which inspects every image (one request each): the
        # environments tab and `servers ls` ask every few seconds, and a desktop keeps many environments
        summaries = client.api.images(filters={"label": [LABEL_SPEC] + [f"{k}={v}" for k, v in labels.items()]})
    found = []
    for summary in summaries:
        tags = summary.get("Labels") or {}
        if LABEL_SPEC not in tags or any(tags.get(k) != v for k, v in labels.items()):
            continue
        for name in summary.get("RepoTags") or []:
            if name.startswith(REPOSITORY + "/"):
                found.append(_environment(summary, name))
    oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(found, key=lambda e: (e.built or oldest, e.image), reverse=True)


def remove_environment(client: docker.DockerClient, image: str, *, force: bool = False) -> bool:
    """Remove an environment image by name. False if it is not there; refuses images localhub did not build."""
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    if LABEL_SPEC not in (found.labels or {}):
        raise ValueError(f"{image} is not a localhub environment image; not removing it")
    client.images.remove(image, force=force)
    return True
