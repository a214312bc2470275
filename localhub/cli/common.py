"""What every command group shares: settings and the client from the common options, JSON output, and
the `--where` argument."""

from __future__ import annotations

import argparse
import json
import re

from ..client import Client
from ..config import Settings, load_settings
from ..errors import shown


def settings_from(args) -> Settings:
    return load_settings(
        state_dir=getattr(args, "state_dir", None),
        port=getattr(args, "port", None),
        ip=getattr(args, "ip", None),
    )


def client_from(args) -> Client:
    return Client(settings_from(args).state_dir)


def print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


WHERE_HELP = ("where the server runs: local (default), auto (here when it fits, else the idle lab peer with "
              "most room) or a lab peer's name or node id from `localhub pool status`")


def where(text: str) -> str:
    text = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", text):
        raise argparse.ArgumentTypeError(f"'{shown(text)}' is not local, auto or a peer's name (letters, digits, . _ -).")
    return text.lower() if text.lower() in ("local", "auto") else text


def profile_name(text: str) -> str:
    """--profile: a profile's name (whether it exists is checked where the profiles are read)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a profile's name cannot be empty; leave --profile out for the default one.")
    return text.strip()
