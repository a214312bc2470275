"""Live figures of this machine, read from /proc and the filesystem: cores, load, memory, disk."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path


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


def _meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    values = {}
    with open(path) as f:
        for line in f:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[name] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return values


def read_figures(state_dir: Path) -> Figures:
    with open("/proc/loadavg") as f:
        load1 = float(f.read().split()[0])
    mem = _meminfo()
    try:
        cpus = len(os.sched_getaffinity(0))  # honours cgroup/taskset limits where cpu_count does not
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return Figures(cpus=cpus, load1=load1, mem_total=mem.get("MemTotal", 0),
                   mem_available=mem.get("MemAvailable", mem.get("MemFree", 0)),
                   disk_free=shutil.disk_usage(state_dir).free)
