"""The contract of a placement target, and the first kind: this desktop.

A target says whether it would take a server now (`offer`), starts it (`run`: the server's address and port
come back in the ledger entry), and follows it (`poll`, `stop`, by the id `run` gave it). `ThisDesktop` only
offers: once it is chosen, the hub's own DockerSpawner runs the container (`runs_in_hub`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..host.machine import read_figures


@dataclass(frozen=True)
class Offer:
    accept: bool
    reason: str


class Target(ABC):
    name: str
    runs_in_hub = False  # True: the hub's spawner starts the server itself once this target is chosen

    @abstractmethod
    async def offer(self, ask: dict) -> Offer:
        """Would this target take a server asking `ask` = {"cpus", "memory", "storage"} now?"""

    async def run(self, request: dict, note):
        """Start the server here; returns its ledger entry (address, port, guest id)."""
        raise NotImplementedError(f"{self.name} is started by the hub's spawner")

    async def poll(self, guest: str) -> int | None:
        """None while it runs; an exit status once it does not."""
        raise NotImplementedError

    async def stop(self, guest: str) -> None:
        raise NotImplementedError


def local_fits(ask: dict, figures=None) -> bool:
    figures = figures or read_figures(Path("/"))
    return figures.mem_available >= ask["memory"] and figures.free_cpus >= ask["cpus"]


class ThisDesktop(Target):
    """This desktop's own engine: it fits when its free memory and CPUs cover the ask."""

    name = "this desktop"
    runs_in_hub = True

    def __init__(self, figures=None):
        self.figures = figures  # a function returning Figures (tests pass fixed ones); default: live

    async def offer(self, ask: dict) -> Offer:
        if local_fits(ask, self.figures() if self.figures else None):
            return Offer(True, "fits here")
        return Offer(False, "not enough free memory or CPUs here")
