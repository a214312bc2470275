"""Home volumes and server containers: their names (one-to-one with servers).

How much each home holds, and how its cap is held, is storage_watch.py's: measured in the background,
never by the engine's disk-usage report (which walks every volume on the machine) on the launch path.
"""

from __future__ import annotations

import re

# a name the server-name policy allows: lowercase letters and digits in groups joined by single '-'
_PLAIN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def server_key(server: str) -> str:
    """The part of Docker names that says which server of a user a container or volume belongs to.

    One-to-one, so that no two servers ever share a container or a home: the unnamed default server is
    `default` (as it always was, so existing homes keep working); a server named like the policy allows is its
    name; any other name — `default` itself, or one made around the policy — is `_` followed by the name with
    every character outside [a-z0-9-] written as `_xx` per UTF-8 byte. Plain keys never start with `_`, and
    escaped ones always do, so no plain name, escaped name and the default can meet.
    """
    if not server:
        return "default"
    if server != "default" and _PLAIN.fullmatch(server):
        return server
    return "_" + "".join(ch if ch in _LITERAL else "".join(f"_{b:02x}" for b in ch.encode()) for ch in server)


def home_volume_name(instance: str, user: str, server: str) -> str:
    return f"localhub-{instance}-{user}--{server_key(server)}"


def container_name(instance: str, user: str, server: str) -> str:
    return f"localhub-{instance}-{user}--{server_key(server)}"
