"""A bundle's manifest (`bundle.json`): the links it carries and what each resolved to, the images with
their layers (each layer stored once, however many images share it), the repositories' content, the
installer, and a SHA-256 and size for every part, so an import checks each byte before it uses it.

The manifest is data checked against a schema (`SCHEMA`) and then for consistency (every part it names is
listed, every path stays inside the bundle); a bad one is refused in one sentence.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field


FORMAT = "localhub-bundle"
VERSION = 1
MANIFEST = "bundle.json"
MANIFEST_SUM = "bundle.json.sha256"  # the manifest's own hash: a damaged manifest is told from a damaged part

KINDS = ("layer", "config", "repo", "wheel", "installer")
PART_PATH = re.compile(r"^(layers|images|repos|installer)/[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")
SHA256 = r"^[0-9a-f]{64}$"
DIGEST = r"^sha256:[0-9a-f]{64}$"


class ManifestError(ValueError):
    """The manifest is malformed or inconsistent; the message says where."""


_PART = {"type": "object", "required": ["kind", "sha256", "size"], "additionalProperties": False, "properties": {
    "kind": {"enum": list(KINDS)}, "sha256": {"type": "string", "pattern": SHA256},
    "size": {"type": "integer", "minimum": 0}, "raw_size": {"type": "integer", "minimum": 0},
    "diff_id": {"type": "string", "pattern": DIGEST}}}

SCHEMA = {
    "type": "object",
    "required": ["format", "version", "name", "created", "created_by", "links", "images", "layers", "parts"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "created": {"type": "string"},
        "created_by": {"type": "string"},
        "links": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["link", "spec", "resolved", "image", "image_id"],
            "properties": {"link": {"type": "string"}, "spec": {"type": "string", "minLength": 1},
                           "urlpath": {"type": ["string", "null"]}, "resolved": {"type": "string", "minLength": 1},
                           "image": {"type": "string", "minLength": 1}, "image_id": {"type": "string", "pattern": DIGEST},
                           "repo": {"type": ["string", "null"]}}}},
        "images": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "names", "config", "layers"],
            "properties": {"id": {"type": "string", "pattern": DIGEST},
                           "names": {"type": "array", "items": {"type": "string"}},
                           "config": {"type": "string"},
                           "layers": {"type": "array", "items": {"type": "string", "pattern": DIGEST}}}}},
        "layers": {"type": "object", "additionalProperties": {"type": "string"}},
        "parts": {"type": "object", "additionalProperties": _PART},
        "installer": {"type": ["object", "null"]},
    },
}


@dataclass(frozen=True)
class Part:
    path: str
    kind: str
    sha256: str  # of the bytes as stored in the bundle
    size: int
    raw_size: int | None = None  # layers: bytes of the uncompressed layer tar
    diff_id: str | None = None  # layers: the layer's id in its images (sha256 of the uncompressed tar)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "path" and v is not None}


@dataclass(frozen=True)
class ImageEntry:
    id: str  # sha256:… of the image config, as `docker images --no-trunc` shows it
    names: tuple[str, ...]
    config: str  # part path of the config JSON
    layers: tuple[str, ...]  # diff ids, base first


@dataclass(frozen=True)
class LinkEntry:
    link: str  # as the teacher wrote it (a mybinder.org link, a repository URL, a local folder…)
    spec: str  # the Binder spec it names, e.g. gh/org/repo/main
    resolved: str  # the commit (or other immutable id) it was built from
    image: str  # the environment image's name
    image_id: str
    urlpath: str | None = None
    repo: str | None = None  # part path of the repository's content, when it could be included


@dataclass
class Manifest:
    name: str
    created: str
    created_by: str
    links: list[LinkEntry] = field(default_factory=list)
    images: list[ImageEntry] = field(default_factory=list)
    layers: dict[str, str] = field(default_factory=dict)  # diff id -> part path
    parts: dict[str, Part] = field(default_factory=dict)
    installer: dict | None = None

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts.values())

    def image(self, image_id: str) -> ImageEntry:
        return next(i for i in self.images if i.id == image_id)

    def image_size(self, image: ImageEntry) -> int:
        """Bytes of the image's own parts in the bundle (its config and every layer, shared ones included)."""
        return self.parts[image.config].size + sum(self.parts[self.layers[d]].size for d in image.layers)

    def to_json(self) -> str:
        data = {"format": FORMAT, "version": VERSION, "name": self.name, "created": self.created,
                "created_by": self.created_by,
                "links": [{k: v for k, v in asdict(link).items()} for link in self.links],
                "images": [{"id": i.id, "names": list(i.names), "config": i.config, "layers": list(i.layers)}
                           for i in self.images],
                "layers": dict(self.layers),
                "parts": {path: part.to_dict() for path, part in sorted(self.parts.items())},
                "installer": self.installer}
        return json.dumps(data, indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise ManifestError(f"the manifest is not JSON ({err})") from None
        if isinstance(data, dict) and data.get("format") == FORMAT and data.get("version") != VERSION:
            raise ManifestError(f"the bundle is format version {data.get('version')!r}; this localhub reads "
                                f"version {VERSION} (a newer localhub made it?)")
        import jsonschema  # here, not at module level: it costs the daemon ~20 MiB and seconds
        try:
            jsonschema.validate(data, SCHEMA)
        except jsonschema.ValidationError as err:
            where = "/".join(str(p) for p in err.absolute_path) or "the top level"
            raise ManifestError(f"the manifest is not valid at {where}: {err.message}") from None
        manifest = cls(
            name=data["name"], created=data["created"], created_by=data["created_by"],
            links=[LinkEntry(**link) for link in data["links"]],
            images=[ImageEntry(i["id"], tuple(i["names"]), i["config"], tuple(i["layers"])) for i in data["images"]],
            layers=dict(data["layers"]),
            parts={path: Part(path, **part) for path, part in data["parts"].items()},
            installer=data.get("installer"))
        manifest.check()
        return manifest

    def check(self) -> None:
        """Raise ManifestError unless every reference resolves and every path stays inside the bundle."""
        for path in self.parts:
            if not PART_PATH.match(path):
                raise ManifestError(f"part name {path!r} is not one a bundle may hold")
        for diff_id, path in self.layers.items():
            part = self.parts.get(path)
            if part is None or part.kind != "layer" or part.diff_id != diff_id:
                raise ManifestError(f"layer {diff_id[:19]} points to {path!r}, which is not its layer part")
        ids = set()
        for image in self.images:
            ids.add(image.id)
            if self.parts.get(image.config, Part("", "", "", 0)).kind != "config":
                raise ManifestError(f"image {image.id[:19]} has no config part {image.config!r}")
            if image.config != f"images/{image.id.removeprefix('sha256:')}.json":
                raise ManifestError(f"image {image.id[:19]}'s config part {image.config!r} is not named by its id")
            missing = [d for d in image.layers if d not in self.layers]
            if missing:
                raise ManifestError(f"image {image.id[:19]} needs layer {missing[0][:19]}, which the bundle lacks")
        for link in self.links:
            if link.image_id not in ids:
                raise ManifestError(f"link {link.spec!r} names image {link.image_id[:19]}, which the bundle lacks")
            if link.repo is not None and self.parts.get(link.repo, Part("", "", "", 0)).kind != "repo":
                raise ManifestError(f"link {link.spec!r} names repository part {link.repo!r}, which is missing")
