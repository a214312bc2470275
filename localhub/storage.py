"""Home volumes: their names, labels, and how much each holds.

Docker's local volume driver cannot cap a named volume's size on a plain overlay2/ext4 engine, so the cap
is *measured*: usage comes from the engine's disk-usage report, a server over its cap is refused at start,
and `localhub servers ls` shows usage against the cap. `ENFORCEMENT` says which mode is in force.
"""

from __future__ import annotations

import re
import time

import docker.errors

ENFORCEMENT = "measured"
ENFORCEMENT_TEXT = (
    "storage caps are measured, not enforced by the engine: Docker's local volume driver has no size limit "
    "for named volumes, so a server over its cap is refused at start and listed with a warning"
)


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


def volume_usage(api_client, names: list[str] | None = None) -> dict[str, int]:
    """Bytes used per volume name (all volumes when `names` is None). Takes a low-level docker.APIClient."""
    report = _disk_usage(api_client)
    usage = {}
    for volume in report.get("Volumes") or []:
        if names is None or volume["Name"] in names:
            size = (volume.get("UsageData") or {}).get("Size", -1)
            usage[volume["Name"]] = max(size, 0)
    return usage


def _disk_usage(api_client, tries: int = 40, wait: float = 0.25) -> dict:
    """The engine's disk-usage report. The engine runs one at a time and answers a second caller (say, two
    launches at once) with an error rather than waiting, so we wait and ask again."""
    for _ in range(tries - 1):
        try:
            return api_client.df()
        except docker.errors.APIError as err:
            if "already running" not in str(err):
                raise
        time.sleep(wait)
    return api_client.df()
