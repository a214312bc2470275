"""What the owner shares (`localhub pool share on|off`), and whether an offer of work fits it.

Stored in `<state>/pool/share.json`. Limits the owner leaves out have defaults that keep the desktop
theirs: half the cores (at least 1), half the memory, 20 GiB of disk. `hours` ("18-08") limits sharing to
a daily window of local time. Whatever a requester asks, `judge_offer` answers by these limits, the live
figures and the owner's idle policy, with a reason either way.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ...errors import LocalhubError
from ...profiles import format_size
from ...state import write_atomic
from ..trust.keys import pool_dir
from .machine import Figures
from .policy import Decision

DEFAULT_DISK = 20 * 2**30
# What one slot is: the shipped default profile (1 CPU, 2 GB, 2 GiB). TXT `slots` counts these.
SLOT = {"cpus": 1.0, "memory": 2 * 10**9, "storage": 2 * 2**30}


@dataclass(frozen=True)
class Share:
    enabled: bool = False
    cpus: float | None = None
    memory: int | None = None  # bytes
    disk: int | None = None  # bytes
    hours: str | None = None  # "18-08": from 18:00 to 08:00 local time
    assume_idle: bool = False

    def limits(self, figures: Figures) -> dict[str, float]:
        """The owner's limits, defaults filled in, never more than the machine has."""
        return {
            "cpus": min(float(figures.cpus), self.cpus or max(1.0, figures.cpus // 2)),
            "memory": min(figures.mem_total, self.memory or figures.mem_total // 2),
            "storage": self.disk or DEFAULT_DISK,
        }

    def in_hours(self, hour: int) -> bool:
        if not self.hours:
            return True
        start, end = parse_hours(self.hours)
        return start <= hour < end if start < end else (hour >= start or hour < end)


def parse_hours(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?\s*", text or "")
    if not match or not all(0 <= int(h) <= 24 for h in match.groups()) or match[1] == match[2]:
        raise LocalhubError(f"Sharing hours '{text}' are not a window of whole hours; write e.g. 18-08 "
                            "(6 pm to 8 am) or 9-17.")
    return int(match[1]) % 24, int(match[2]) % 24


def share_path(state_dir: Path) -> Path:
    return pool_dir(state_dir) / "share.json"


def load_share(state_dir: Path) -> Share:
    path = share_path(state_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Share()
    except (OSError, ValueError) as err:
        raise LocalhubError(f"Cannot read {path} ({err}); set sharing again with `localhub pool share on|off`.") \
            from None
    known = {f.name for f in fields(Share)}
    return Share(**{k: v for k, v in data.items() if k in known})


def save_share(state_dir: Path, share: Share) -> None:
    write_atomic(share_path(state_dir), json.dumps(asdict(share), indent=2) + "\n")


def judge_offer(ask: dict, share: Share, figures: Figures, decision: Decision, hour: int,
                in_use: dict | None = None) -> tuple[bool, str]:
    """(accept, reason) for running work of `ask` = {"cpus", "memory", "storage"} here, now."""
    if not share.enabled:
        return False, "this desktop's owner does not share it"
    if not share.in_hours(hour):
        return False, f"this desktop is shared only between {share.hours.replace('-', ':00 and ')}:00"
    if not decision.accepting:
        return False, decision.reason
    used = {"cpus": 0.0, "memory": 0, "storage": 0, **(in_use or {})}
    limits = share.limits(figures)
    live = {"cpus": figures.free_cpus, "memory": figures.mem_available, "storage": figures.disk_free}
    shown = {"cpus": lambda v: f"{v:g} CPUs", "memory": lambda v: f"{format_size(v)} memory",
             "storage": lambda v: f"{format_size(v)} disk"}
    for what in ("cpus", "memory", "storage"):
        wanted = float(ask.get(what) or 0)
        left = limits[what] - used[what]
        if wanted > left:
            return False, (f"asks {shown[what](wanted)}; the owner shares {shown[what](limits[what])}"
                           + (f" and guests use {shown[what](used[what])}" if used[what] else ""))
        if what != "cpus" and wanted > live[what]:
            return False, f"asks {shown[what](wanted)}; only {shown[what](live[what])} is free right now"
    return True, f"fits: {decision.reason}"


def free_slots(share: Share, figures: Figures, decision: Decision, hour: int, in_use: dict | None = None) -> int:
    """How many default-profile servers would be accepted now (the coarse `slots` advertised)."""
    if not judge_offer(SLOT, share, figures, decision, hour, in_use)[0]:
        return 0
    used = {"cpus": 0.0, "memory": 0, "storage": 0, **(in_use or {})}
    limits = share.limits(figures)
    room = [(limits["cpus"] - used["cpus"]) / SLOT["cpus"],
            min(limits["memory"] - used["memory"], figures.mem_available) / SLOT["memory"],
            min(limits["storage"] - used["storage"], figures.disk_free) / SLOT["storage"]]
    return max(0, int(min(room)))
