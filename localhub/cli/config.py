"""`localhub config [get KEY | set KEY VALUE | unset KEY]`: the settings, in TLJH's `tljh-config` manner.

Bare `config` shows every setting with the value in force. `set` and `unset` edit config.toml (comments and
order kept, by tomlkit) after checking the value against the setting's own declaration in localhub/config.py,
and say when it takes effect: a running hub reads its settings when it starts.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..config import Settings, config_file_path, field_types, load_settings, reference, settings_to_dict
from ..errors import LocalhubError, shown
from ..lifecycle import running_daemon
from ..state import StateDir
from .common import print_json, settings_from

TYPE_WORDS = {int: "a whole number", float: "a number", str: "text", Path: "a path", dict: "a table"}
NOT_HERE = {  # settings config.toml cannot hold, and where they are set instead
    "config_dir": "it says where config.toml itself is, so set LOCALHUB_CONFIG_DIR instead",
    "labels": "it is a table, so edit it in config.toml",
}


def _file() -> Path:
    """The config file, found as load_settings finds it, without reading it (`unset` mends a bad file too)."""
    env_dir = os.environ.get("LOCALHUB_CONFIG_DIR")
    return config_file_path(Path(env_dir) if env_dir else None)


def _known(key: str) -> type:
    types = field_types()
    if key not in types:
        raise LocalhubError(f"'{shown(key)}' is not a setting; `localhub config` lists them all.")
    return types[key]


def parse_value(key: str, text: str):
    """VALUE as the setting declares it, checked as the hub would check it when it starts."""
    kind = _known(key)
    if key in NOT_HERE:
        raise LocalhubError(f"{key} cannot be set with `localhub config set`; {NOT_HERE[key]}.")
    if shown(text, limit=len(text) + 1) != text:
        raise LocalhubError(f"The value '{shown(text)}' for {key} holds control characters; use plain text.")
    try:
        value = {int: int, float: float}.get(kind, str)(text.strip() if kind in (int, float) else text)
    except ValueError:
        raise LocalhubError(f"'{shown(text)}' is not a valid {key}: it must be {TYPE_WORDS[kind]}.") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise LocalhubError(f"'{shown(text)}' is not a valid {key}: it must be {TYPE_WORDS[kind]}.")
    if isinstance(value, (int, float)) and value < 0:
        raise LocalhubError(f"'{shown(text)}' is not a valid {key}: it must not be negative.")
    if isinstance(value, str) and not value.strip() and _default(key) not in ("", None):
        raise LocalhubError(f"{key} cannot be empty; `localhub config unset {key}` brings back its default.")
    if kind is Path:
        value = str(Path(value).expanduser().absolute())
    load_settings(**{key: value})  # the checks of a starting hub (the port's range, …), in their own words
    return value


def _default(key: str):
    return settings_to_dict(Settings())[key]


def where_from(key: str, in_file: bool) -> str:
    if os.environ.get(f"LOCALHUB_{key.upper()}") is not None and field_types()[key] is not dict:
        return "environment"
    return "config file" if in_file else "default"


def _read(path: Path):
    import tomlkit

    try:
        return tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    except (OSError, tomlkit.exceptions.ParseError) as err:
        raise LocalhubError(f"Cannot read {path}: {err}. Fix the file or remove it.") from None


def _write(path: Path, document) -> None:
    """Replace the file whole (a reader never sees half of it), keeping its mode."""
    import tomlkit

    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(tomlkit.dumps(document))
    os.replace(partial, path)


def when_applied(args, key: str, value) -> str:
    """When a changed setting takes effect: the hub reads its settings when it starts."""
    override = f"LOCALHUB_{key.upper()}"
    if os.environ.get(override) is not None and field_types()[key] is not dict:
        return f"{override} is set in this environment and wins over the file until it is unset."
    try:
        state = settings_from(args).state_dir
    except LocalhubError:
        return "It applies when the hub starts."
    runtime = running_daemon(StateDir(state))
    if not runtime:
        return "No hub runs for this state dir: it applies when one starts (`localhub up`)."
    if (runtime.get("settings") or {}).get(key) == value:
        return "The running hub already uses this value; no restart is needed."
    if key in ("port", "ip"):
        return (f"The running hub still uses the {key} it started with: `localhub down` then `localhub up` apply it "
                f"(`localhub restart` keeps the {key} it had).")
    return "The running hub still uses the old value: restart it to apply this one (`localhub restart`)."


def cmd_show(args) -> int:
    settings = settings_from(args)
    current = settings_to_dict(settings)
    if args.json:
        print_json(current)
        return 0
    print(f"Settings (config file: {config_file_path(settings.config_dir)}; "
          "override any with LOCALHUB_<NAME> or the command's flags)\n")
    for name, default, text in reference():
        print(f"{name} = {json.dumps(current[name])}\n    {text} (default: {default})")
    return 0


def cmd_get(args) -> int:
    _known(args.key)
    value = settings_to_dict(settings_from(args))[args.key]
    source = where_from(args.key, args.key in _read(_file()))
    if args.json:
        print_json({"key": args.key, "value": value, "from": source})
    else:
        print(value if isinstance(value, str) else json.dumps(value))
    return 0


def cmd_set(args) -> int:
    value = parse_value(args.key, args.value)
    path = _file()
    document = _read(path)
    document[args.key] = value
    _write(path, document)
    note = when_applied(args, args.key, value)
    if args.json:
        print_json({"key": args.key, "value": value, "file": str(path), "note": note})
    else:
        print(f"{args.key} = {json.dumps(value)} in {path}. {note}")
    return 0


def cmd_unset(args) -> int:
    _known(args.key)
    path = _file()
    document = _read(path)
    present = args.key in document
    if present:
        del document[args.key]
        _write(path, document)
    default = settings_to_dict(settings_from(args))[args.key]
    note = when_applied(args, args.key, default) if present else "Nothing changed."
    if args.json:
        print_json({"key": args.key, "removed": present, "value": default, "file": str(path), "note": note})
    elif present:
        print(f"{args.key} removed from {path}; it is {json.dumps(default)} now. {note}")
    else:
        print(f"{args.key} is not set in {path}; it is {json.dumps(default)}. {note}")
    return 0


def register(sub, common, json_flag) -> None:
    config = sub.add_parser("config", parents=[common, json_flag],
                            help="show every setting, or get, set or unset one (as tljh-config)")
    config.set_defaults(func=cmd_show)
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    key_help = "a setting's name, e.g. idle_timeout (`localhub config` lists them)"
    get = actions.add_parser("get", parents=[common, json_flag], help="print the value in force of one setting")
    get.add_argument("key", help=key_help)
    get.set_defaults(func=cmd_get)
    set_ = actions.add_parser("set", parents=[common, json_flag],
                              help="set one setting in config.toml (checked first; says whether a restart is needed)")
    set_.add_argument("key", help=key_help)
    set_.add_argument("value", help="its value, e.g. 3600 (numbers, text or a path, as the setting declares)")
    set_.set_defaults(func=cmd_set)
    unset = actions.add_parser("unset", parents=[common, json_flag],
                               help="remove one setting from config.toml (back to its default)")
    unset.add_argument("key", help=key_help)
    unset.set_defaults(func=cmd_unset)
