"""Progress of a transfer in bytes, with its rate: what `bundle create`, `bundle import` and class fetches
report, and what the CLI, the TUI and the launch page draw (this module draws nothing)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..profiles import format_size


@dataclass
class Progress:
    what: str  # "Importing course.lhb"
    total: int  # bytes to move
    done: int = 0
    skipped: int = 0  # bytes not moved because they were already here (layers present, chunks resumed)
    stage: str = ""  # what is being moved now, e.g. "layer 3 of 7"
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def add(self, n: int) -> None:
        self.done += n

    def finish(self) -> None:
        self.finished = time.monotonic()

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Bytes per second moved so far (skipped bytes are not counted)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    def line(self) -> str:
        text = f"{self.what}: {format_size(self.done)} of {format_size(self.total)} ({self.fraction:.0%})"
        if self.done:
            text += f" at {format_size(self.rate)}/s"
            if self.finished is None and self.rate > 0 and self.total > self.done:
                text += f", {(self.total - self.done) / self.rate:.0f} s left"
        if self.skipped:
            text += f"; {format_size(self.skipped)} already here"
        if self.stage and self.finished is None:
            text += f" — {self.stage}"
        return text

    @classmethod
    def from_dict(cls, data: dict) -> "Progress":
        """A Progress as another process reported it (its rate and time as they were then)."""
        now = time.monotonic()
        progress = cls(data["what"], data["total"], data["done"], data.get("skipped", 0), data.get("stage", ""),
                       started=now - data.get("seconds", 0.0))
        if data.get("finished"):
            progress.finished = now
        return progress

    def to_dict(self) -> dict:
        return {"what": self.what, "total": self.total, "done": self.done, "skipped": self.skipped,
                "stage": self.stage, "seconds": round(self.seconds, 3), "rate": round(self.rate),
                "fraction": round(self.fraction, 4), "finished": self.finished is not None}


class Throttled:
    """Calls `report(progress)` at most every `every` seconds, and always for the last call (`final=True`)."""

    def __init__(self, report: Callable[[Progress], None] | None, every: float = 0.5):
        self.report, self.every, self._last = report, every, 0.0

    def __call__(self, progress: Progress, final: bool = False) -> None:
        if self.report is None:
            return
        now = time.monotonic()
        if final or now - self._last >= self.every:
            self._last = now
            self.report(progress)
