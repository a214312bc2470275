"""Storage caps of home volumes: how they are held on this engine (enforced by quotas, or watched by
storage_watch.py), how far past its cap a home may grow before its server is stopped, and what its user is told.
"""

from __future__ import annotations

import time
import uuid

import docker.errors

from .profiles import format_size

MiB = 2**20

ENFORCED_TEXT = ("storage caps are enforced by the engine: home volumes are created with their cap as an XFS "
                 "project quota, and writes past it fail")
WATCHED_TEXT = ("storage caps are watched: the engine's filesystem has no volume quotas, so each running "
                "server's home is measured every 2 s (at once when the disk fills fast, five times a second near "
                "its cap), and a server past its cap plus a margin is frozen and stopped with a notice; a server "
                "over its cap is refused at start")


def margin(cap: int) -> int:
    """How far past its cap a home may grow before its server is stopped (writes in flight, a measurement's
    delay): a tenth of the cap, between 64 MiB and 512 MiB."""
    return min(512 * MiB, max(64 * MiB, cap // 10))


def engine_has_quotas(api, labels: dict) -> bool:
    """Whether the engine's local volume driver can cap a volume's size here (a probe volume is made and
    removed). `api` is a low-level docker.APIClient."""
    name = f"localhub-quota-probe-{uuid.uuid4().hex[:8]}"
    try:
        api.create_volume(name, driver="local", driver_opts={"size": str(64 * MiB)},
                          labels={**labels, "localhub.role": "probe"})
    except docker.errors.APIError:
        return False  # "quota size requested but no quota support"
    try:
        api.remove_volume(name, force=True)
    except docker.errors.APIError:
        pass
    return True


def mode_text(quotas: bool) -> str:
    return ENFORCED_TEXT if quotas else WATCHED_TEXT


def over_cap_notice(used: int, cap: int, when: float) -> str:
    return (f"stopped at {time.strftime('%H:%M', time.localtime(when))}: its home held {format_size(used)}, past "
            f"its {format_size(cap)} storage cap — delete files to start it again (start it with a larger profile, "
            "e.g. --profile large, to reach them), or delete the server")


def low_disk_notice(free: int, when: float) -> str:
    return (f"stopped at {time.strftime('%H:%M', time.localtime(when))}: its home was growing fastest while this "
            f"desktop's disk had only {format_size(free)} left — free disk space or delete files before starting it")
