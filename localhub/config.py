"""Settings with embedded defaults, an optional config.toml, and environment/CLI overrides.

Order of precedence (later wins): defaults in this file < `config.toml` in the user config dir (or the
file named by LOCALHUB_CONFIG) < LOCALHUB_* environment variables < command-line flags.
"""

from __future__ import annotations

import functools
import getpass
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import platformdirs

from .errors import LocalhubError, shown

APP_NAME = "localhub"
PORT_BLOCK = 4  # --port and the next three: the hub, the proxy's API, localhub's API, JupyterHub's API


@dataclass(frozen=True)
class Settings:
    """Everything the daemon needs to run a hub. Each field's `help` metadata is shown by `localhub config`."""

    state_dir: Path = field(
        default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)),
        metadata={"help": "Where the hub keeps its database, secrets, logs and build logs."},
    )
    config_dir: Path = field(
        default_factory=lambda: Path(platformdirs.user_config_dir(APP_NAME)),
        metadata={"help": "Where config.toml and your own profiles/*.toml live."},
    )
    ip: str = field(
        default="127.0.0.1",
        metadata={"help": "Address the hub listens on. Use 0.0.0.0 only to open it to your LAN."},
    )
    port: int = field(default=8765, metadata={"help": "Port of the hub (its proxy); port+1 and port+2 (on 127.0.0.1) serve the proxy's "
                                               "and localhub's own APIs, port+3 JupyterHub's API (on the hub's Docker "
                                               "network, and in a lab on the LAN address)."})
    user: str = field(
        default_factory=lambda: desktop_user_name(),
        metadata={"help": "The hub user the login link signs in: the desktop user by default."},
    )
    image: str = field(
        default="localhub/singleuser:latest",
        metadata={"help": "Image for servers whose profile names none."},
    )
    default_profile: str = field(default="default", metadata={"help": "Profile used when none is named."})
    max_named_servers: int = field(default=5, metadata={"help": "Named servers per user (plus the default one); 0 means no limit, as in JupyterHub."})
    server_name_max_length: int = field(default=20, metadata={"help": "Longest allowed server name."})
    idle_timeout: int = field(
        default=7200, metadata={"help": "Seconds without activity before a server is stopped (storage kept)."}
    )
    cull_every: int = field(default=300, metadata={"help": "How often (seconds) the idle culler looks."})
    pause_after: int = field(
        default=600, metadata={"help": "Seconds a running server may sit idle (no busy kernel, no open connection) "
                                       "before it is paused: frozen with its memory kept, and resumed by the next "
                                       "request, a launch, `servers start` or `open` or the TUI (0: never pause)."}
    )
    paused_memory_cap: int = field(
        default=4096, metadata={"help": "Most memory (MiB) all paused servers together may hold; over it, the "
                                        "server paused longest ago is stopped (its files kept)."}
    )
    pids_limit: int = field(default=1024, metadata={"help": "Most processes a server container may run."})
    start_timeout: int = field(
        default=120, metadata={"help": "Seconds a server may take to start on this desktop before the hub gives up "
                                       "(its files kept)."}
    )
    pool_start_timeout: int = field(
        default=900, metadata={"help": "Seconds a server asked to run on a lab peer (or `auto`) may take to start, "
                                       "its image and home travelling first, before the hub gives up (it is then "
                                       "stopped there and its home comes back)."}
    )
    pool_address: str = field(
        default="", metadata={"help": "LAN address the pool agent serves and announces on (empty: found "
                                      "automatically; the pool runs only once `localhub pool init|join` was run)."}
    )
    pool_port: int = field(default=8470, metadata={"help": "Port of this desktop's pool agent (HTTPS)."})
    pool_idle_after: int = field(
        default=900, metadata={"help": "Seconds without owner input before this desktop takes guests."}
    )
    pool_start_load: float = field(
        default=0.3, metadata={"help": "Most load per core (not from guests) at which this desktop takes guests."}
    )
    pool_busy_load: float = field(
        default=0.5, metadata={"help": "Load per core that, lasting 2 min, counts as the owner's own work."}
    )
    pool_grace: int = field(
        default=600, metadata={"help": "Seconds a guest stays paused after its owner returns before it is "
                                       "stopped and its files are sent home."}
    )
    pool_sync_every: int = field(
        default=300, metadata={"help": "Seconds between copies of a remote server's home back to this hub."}
    )
    pool_lost_after: int = field(
        default=60, metadata={"help": "Seconds a peer running one of our servers may be unreachable before "
                                      "the server counts as lost (its last synced home is offered)."}
    )
    cors_allow_origin: str = field(
        default="", metadata={"help": "Origins (space-separated, or *) whose pages may read /build/ event streams: "
                                      "browser-side Binder clients such as Thebe (BinderHub's cors_allow_origin)."}
    )
    class_address: str = field(
        default="", metadata={"help": "LAN address a workshop class is served and found on (empty: found "
                                      "automatically; the class runs only once `localhub class serve|join` was run)."}
    )
    class_port: int = field(default=8471, metadata={"help": "Port of this laptop's class agent (HTTPS), which "
                                                            "shares environments and material with the class."})
    class_prefetch: int = field(
        default=1, metadata={"help": "1: a participant's laptop fetches every environment the class offers as soon "
                                     "as it joins; 0: only when one is launched."}
    )
    labels: dict = field(
        default_factory=dict,
        metadata={"help": "Extra Docker labels on everything localhub creates (tests use this); in the "
                         "environment written key=value,key=value."},
    )

    @functools.cached_property
    def instance(self) -> str:
        """A short id of this hub, derived from its state dir, so several hubs can run side by side. Worked out
        once (the settings are frozen): listing servers names each one's volume and container with it, and
        resolving the path (a system call per component) and hashing it each time made the list's cost grow
        with every server."""
        import hashlib

        return hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:8]

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.ip in ("0.0.0.0", "") else self.ip
        return f"http://{host}:{self.port}"


def desktop_user_name() -> str:
    """The OS user, made into a valid JupyterHub user name."""
    try:
        name = getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        name = "user"
    name = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return name or "user"


_ENV_PREFIX = "LOCALHUB_"
MIN_START_TIMEOUT = 10


def _coerce(name: str, value, target_type, source: str):
    try:
        if target_type is Path:
            # absolute: the daemon's children (JupyterHub, builds) run in other directories
            return Path(value).expanduser().absolute()
        if target_type in (int, float):
            if isinstance(value, bool) or (target_type is int and isinstance(value, float) and not value.is_integer()):
                raise ValueError  # 1.5 servers, a port of 80.5
            number = target_type(value)
            # every number localhub takes is a count, size or time; a port's own range is said by load_settings
            if not math.isfinite(number) or (number < 0 and name != "port"):
                raise LocalhubError(f"{source}: '{name}' must be a number of at least 0, not {shown(str(value))}.")
            return number
        if target_type is dict:
            if not isinstance(value, dict):
                raise ValueError
            return {str(k): str(v) for k, v in value.items()}
        if not isinstance(value, (str, int, float)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 or inf where a whole number is meant
        raise LocalhubError(f"{source}: '{name}' must be {target_type.__name__}, not {value!r}.") from None


LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def labels_from_text(text: str, source: str) -> dict[str, str]:
    """`key=value,key=value` (the environment's form of a table of labels), each key once."""
    labels: dict[str, str] = {}
    for pair in text.split(","):
        key, equals, value = (part.strip() for part in pair.partition("="))
        if not (equals and LABEL_KEY.fullmatch(key) and value.isprintable()) or key in labels:
            raise LocalhubError(f"{source}: labels are written key=value,key=value (each key once, letters, digits "
                                f"and ._/- only), not {shown(text)}.")
        labels[key] = value
    return labels


def field_types() -> dict[str, type]:
    """Each setting's type (int, float, str, Path or dict)."""
    mapping = {"Path": Path, "int": int, "float": float, "str": str, "dict": dict}
    return {f.name: mapping[f.type] for f in fields(Settings)}


def config_file_path(config_dir: Path | None = None) -> Path:
    if os.environ.get("LOCALHUB_CONFIG"):
        return Path(os.environ["LOCALHUB_CONFIG"])
    return (config_dir or Path(platformdirs.user_config_dir(APP_NAME))) / "config.toml"


def load_settings(**overrides) -> Settings:
    """Build the settings from all sources. `overrides` are command-line values; None means not given."""
    types = field_types()
    values: dict = {}

    env_config_dir = os.environ.get(_ENV_PREFIX + "CONFIG_DIR")
    config_dir = overrides.get("config_dir") or (Path(env_config_dir) if env_config_dir else None)
    path = config_file_path(config_dir)
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise LocalhubError(f"Cannot read {path}: {err}. Fix the file or remove it.") from None
        for key, value in data.items():
            if key not in types:
                raise LocalhubError(
                    f"{path}: unknown setting '{key}'. Known settings: {', '.join(sorted(types))}."
                )
            values[key] = _coerce(key, value, types[key], str(path))

    for name, target_type in types.items():
        env_value = os.environ.get(_ENV_PREFIX + name.upper())
        if env_value is None:
            continue
        source = f"${_ENV_PREFIX}{name.upper()}"
        values[name] = labels_from_text(env_value, source) if target_type is dict else _coerce(
            name, env_value, target_type, source)

    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, value, types[name], f"--{name.replace('_', '-')}")

    settings = replace(Settings(), **values)
    if not 1 <= settings.port <= 65536 - PORT_BLOCK:
        raise LocalhubError(f"Port {settings.port} is out of range: choose one from 1 to {65536 - PORT_BLOCK} "
                            f"(localhub also uses the next {PORT_BLOCK - 1} ports).")
    for name in ("start_timeout", "pool_start_timeout"):
        if getattr(settings, name) < MIN_START_TIMEOUT:
            raise LocalhubError(f"{name} must be at least {MIN_START_TIMEOUT} seconds (a server's container alone "
                                f"takes seconds to start), not {getattr(settings, name)}.")
    return settings


def settings_to_dict(settings: Settings) -> dict:
    return {f.name: (str(v) if isinstance(v := getattr(settings, f.name), Path) else v) for f in fields(Settings)}


def settings_from_dict(data: dict) -> Settings:
    types = field_types()
    return Settings(**{k: _coerce(k, v, types[k], "runtime.json") for k, v in data.items() if k in types})


def reference() -> list[tuple[str, str, str]]:
    """(name, default, help) for every setting: shown by `localhub config` and copied into the README."""
    rows = []
    for f in fields(Settings):
        if f.name in ("state_dir", "config_dir", "user"):
            default = {"state_dir": "platformdirs user data dir (e.g. ~/.local/share/localhub)",
                       "config_dir": "platformdirs user config dir (e.g. ~/.config/localhub)",
                       "user": "the desktop user's name"}[f.name]
        else:
            value = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
            default = json.dumps(value)
        rows.append((f.name, default, f.metadata["help"]))
    return rows


def setting_help(name: str) -> str:
    """A setting's help and default, for the command-line flag that sets it (declared once, in Settings)."""
    (text, default) = next((text, default) for n, default, text in reference() if n == name)
    return f"{text[0].lower()}{text[1:].rstrip('.')} (default: {default})"


def reference_markdown() -> str:
    lines = ["| setting | default | what it does |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {default} | {text} |" for name, default, text in reference()]
    return "\n".join(lines)
