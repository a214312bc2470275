"""Home volumes: their names, labels, and how much each holds.

Docker's local volume driver cannot cap a named volume's size on a plain overlay2/ext4 engine, so the cap
is *measured*: usage comes from the engine's disk-usage report, a server over its cap is refused at start,
and `localhub servers ls` shows usage against the cap. `ENFORCEMENT` says which mode is in force.
"""

from __future__ import annotations

import time

import docker.errors

ENFORCEMENT = "measured"
ENFORCEMENT_TEXT = (
    "storage caps are measured, not enforced by the engine: Docker's local volume driver has no size limit "
    "for named volumes, so a server over its cap is refused at start and listed with a warning"
)


def home_volume_name(instance: str, user: str, server: str) -> str:
    return f"localhub-{instance}-{user}--{server or 'default'}"


def container_name(instance: str, user: str, server: str) -> str:
    return f"localhub-{instance}-{user}--{server or 'default'}"


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
