"""Live figures of this machine (psutil): cores this process may use, load, memory, disk."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Figures:
    cpus: int
    load1: float  # 1-minute load average (all processes, guests included)
    mem_total: int  # bytes
    mem_available: int  # bytes (MemAvailable: what can be allocated without swapping)
    disk_free: int  # bytes free where the state directory lives

    @property
    def load_per_core(self) -> float:
        return self.load1 / max(1, self.cpus)

    @property
    def free_cpus(self) -> float:
        return max(0.0, self.cpus - self.load1)

    def to_dict(self) -> dict:
        return {**asdict(self), "free_cpus": round(self.free_cpus, 2), "load_per_core": round(self.load_per_core, 2)}


def read_figures(state_dir: Path) -> Figures:
    memory = psutil.virtual_memory()
    try:
        cpus = len(psutil.Process().cpu_affinity())  # honours cgroup/taskset limits where cpu_count does not
    except (AttributeError, psutil.Error):
        cpus = psutil.cpu_count() or 1
    return Figures(cpus=cpus, load1=psutil.getloadavg()[0], mem_total=memory.total, mem_available=memory.available,
                   disk_free=psutil.disk_usage(str(state_dir)).free)


class CpuMeter:
    """CPUs in use by a set of processes, measured from their CPU time (cgroup counters) and averaged the way
    the kernel averages the load (exponentially, over a minute), so the two can be subtracted: the load that
    is left is the owner's own. Fed readings of each member's total CPU seconds; a member's first reading only
    sets its baseline, and one that disappears stops counting."""

    WINDOW = 60.0  # seconds, as the 1-minute load average

    def __init__(self):
        self.cpus = 0.0
        self._last: dict[str, float] = {}
        self._at: float | None = None

    def feed(self, at: float, totals: dict[str, float]) -> float:
        """`totals`: member -> CPU seconds used since it started, read at monotonic time `at`."""
        used = sum(max(0.0, total - self._last[name]) for name, total in totals.items() if name in self._last)
        if self._at is not None and at > self._at:
            span = at - self._at
            weight = math.exp(-span / self.WINDOW)
            self.cpus = self.cpus * weight + (used / span) * (1 - weight)
        self._last, self._at = dict(totals), at
        return self.cpus
