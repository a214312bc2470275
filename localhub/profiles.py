"""Resource profiles: TOML data files checked against one JSON Schema (profiles/schema.json).

Shipped profiles come with the package (`localhub_profiles`); the user's own live in
`<config dir>/profiles/*.toml` and override shipped ones of the same name.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from .errors import LocalhubError

_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}


def parse_size(text: str) -> int:
    """'2G' -> 2_000_000_000 bytes, '2Gi' -> 2 * 2**30 bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?)?B?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (write e.g. 2G or 2Gi)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").upper()])


def format_size(n: int | float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    cpu: float
    memory: int  # bytes
    storage: int  # bytes
    image: str | None = None
    idle_timeout: int | None = None
    pids: int | None = None
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _schema() -> dict:
    return json.loads(resources.files("localhub_profiles").joinpath("schema.json").read_text())


def parse_profile(text: str, source: str) -> Profile:
    """Parse and check one profile file; errors name the file and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LocalhubError(f"Profile {source} is not valid TOML: {err}.") from None
    import jsonschema  # here, not at module level: importing it costs about a second

    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.path) or "(top level)"
        if err.validator == "additionalProperties":
            extra = sorted(set(data) - set(_schema()["properties"]))
            raise LocalhubError(f"Profile {source}: unknown field '{extra[0]}'. Allowed fields: "
                                f"{', '.join(_schema()['properties'])}.")
        if err.validator == "required":
            raise LocalhubError(f"Profile {source}: {err.message}.")
        raise LocalhubError(f"Profile {source}: field '{where}' is invalid: {err.message}.")
    return Profile(
        name=data["name"],
        description=data["description"],
        cpu=float(data["cpu"]),
        memory=parse_size(data["memory"]),
        storage=parse_size(data["storage"]),
        image=data.get("image"),
        idle_timeout=data.get("idle_timeout"),
        pids=data.get("pids"),
        source=source,
    )


def load_profiles(config_dir: Path | str | None) -> dict[str, Profile]:
    """All profiles by name: shipped ones, then the user's (which win on a name clash)."""
    profiles: dict[str, Profile] = {}
    shipped = resources.files("localhub_profiles")
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            profile = parse_profile(entry.read_text(), f"(shipped) {entry.name}")
            profiles[profile.name] = profile
    user_dir = Path(config_dir) / "profiles" if config_dir else None
    if user_dir and user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            try:
                text = path.read_text()
            except OSError as err:
                raise LocalhubError(f"Cannot read profile {path}: {err.strerror}.") from None
            profile = parse_profile(text, str(path))
            profiles[profile.name] = profile
    return profiles


def get_profile(profiles: dict[str, Profile], name: str) -> Profile:
    try:
        return profiles[name]
    except KeyError:
        raise LocalhubError(
            f"There is no profile '{name}'. Known profiles: {', '.join(sorted(profiles))}."
        ) from None
