"""Resource profiles: TOML data files checked against one JSON Schema (profiles/schema.json), then against what
the engine can honour (a memory limit of 0 would mean none at all, a CPU count over this machine's is refused by
Docker at start, a 0 storage cap refuses every start).

Shipped profiles come with the package (`localhub_profiles`); the user's own live in
`<config dir>/profiles/*.toml` and override shipped ones of the same name. A user's profile that fails a check is
skipped, with a warning naming the file and the field, wherever profiles are read: one bad file never stops the
hub or the other profiles.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import tomllib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from .errors import LocalhubError, shown

log = logging.getLogger("localhub.profiles")

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


def parse_profile(text: str, source: str, host_cpus: int | None = None) -> Profile:
    """Parse and check one profile file; errors name the file and the field. `host_cpus`: this machine's CPUs
    (a profile asking for more cannot start here)."""
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
    profile = Profile(
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
    check_honourable(profile, data, source, host_cpus)
    return profile


MIN_CPU = 0.01  # Docker's smallest CPU limit
MIN_MEMORY = 128 * 10**6  # Docker refuses under 6 MB; a Jupyter server needs about 100 MB to start
MIN_STORAGE = 10 * 10**6  # a home holds at least the environment's own files


def check_honourable(profile: Profile, data: dict, source: str, host_cpus: int | None) -> None:
    """Refuse what the schema allows but the engine cannot honour, naming the field."""
    def refuse(field: str, why: str) -> None:
        raise LocalhubError(f"Profile {source}: field '{field}' is invalid: {why}.")

    if profile.cpu < MIN_CPU:
        refuse("cpu", f"{data['cpu']} is less than the smallest share Docker gives ({MIN_CPU})")
    if host_cpus and profile.cpu > host_cpus:
        refuse("cpu", f"{data['cpu']} CPUs is more than this machine has ({host_cpus})")
    if profile.memory == 0:
        refuse("memory", f"\"{data['memory']}\" would mean no limit at all; write at least 128M")
    if profile.memory < MIN_MEMORY:
        refuse("memory", f"\"{data['memory']}\" is too little for a Jupyter server; write at least 128M")
    if profile.storage < MIN_STORAGE:
        refuse("storage", f"\"{data['storage']}\" would refuse every start; write at least 10M")


class Profiles(dict):
    """Profiles by name, and the files that could not be used: `skipped` maps the profile's name (as the file
    declares it, else the file's stem) to the warning, which names the file and the field."""

    def __init__(self):
        super().__init__()
        self.skipped: dict[str, str] = {}

    def skip(self, name: str, message: str) -> None:
        self.skipped[name] = message


_warned: set[tuple[str, float]] = set()


def load_profiles(config_dir: Path | str | None, host_cpus: int | None = None) -> Profiles:
    """All profiles by name: shipped ones, then the user's (which win on a name clash). A user's file that cannot
    be used is skipped: its warning is in `.skipped` and logged once per version of the file."""
    host_cpus = host_cpus if host_cpus is not None else os.cpu_count()
    profiles = Profiles()
    for filename, text in _shipped():
        try:
            profile = _parse(text, f"(shipped) {filename}", host_cpus)
        except LocalhubError as err:  # e.g. the shipped 'large' on a one-core machine
            profiles.skip(filename.removesuffix(".toml"), f"{err} It is skipped.")
            continue
        profiles[profile.name] = profile
    user_dir = Path(config_dir) / "profiles" if config_dir else None
    if user_dir and user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            text = ""
            try:
                try:
                    text = path.read_text()
                except (OSError, UnicodeDecodeError) as err:
                    raise LocalhubError(f"Cannot read profile {path}: {getattr(err, 'strerror', None) or err}.") from None
                profile = _parse(text, str(path), host_cpus)
            except LocalhubError as err:
                message = f"{err} It is skipped; the other profiles work."
                profiles.skip(_declared_name(text) or path.stem, message)
                _warn_once(path, message)
                continue
            profiles[profile.name] = profile
    return profiles


@functools.cache
def _shipped() -> tuple[tuple[str, str], ...]:
    """The profiles that come with localhub: (file name, text), read once."""
    shipped = resources.files("localhub_profiles")
    return tuple((entry.name, entry.read_text()) for entry in sorted(shipped.iterdir(), key=lambda e: e.name)
                 if entry.name.endswith(".toml"))


# The daemon reads the profiles on every listing (the TUI asks every few seconds) so that an edited file counts at
# once; reading a file is cheap, checking it against the schema is not. A Profile is frozen: safe to share.
_parse = functools.lru_cache(maxsize=256)(parse_profile)


def _declared_name(text: str) -> str | None:
    try:
        name = tomllib.loads(text).get("name")
    except tomllib.TOMLDecodeError:
        return None
    return name if isinstance(name, str) else None


def _warn_once(path: Path, message: str) -> None:
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        key = (str(path), 0.0)
    if key not in _warned:
        _warned.add(key)
        log.warning("%s", message)


def get_profile(profiles: dict[str, Profile], name: str) -> Profile:
    try:
        return profiles[name]
    except KeyError:
        skipped = getattr(profiles, "skipped", {}).get(name)
        if skipped:
            raise LocalhubError(skipped.split(" It is skipped")[0] + f" Fix it to use profile '{shown(name)}'.") from None
        raise LocalhubError(
            f"There is no profile '{shown(name)}'. Known profiles: {', '.join(sorted(profiles))}."
        ) from None
