"""Build events as data, and the fan-out that lets every caller of one build follow the same log.

Phases use BinderHub's words so the hub's event stream can pass them on unchanged: `waiting`
(another request is already building this image), `fetching`, `building`, then exactly one of
`built` or `failed`.

Besides log lines, a running build publishes a *tick* every second (progress.py's figures, no message), so that a
quiet step still shows its clock moving. A log keeps only the newest tick: a late follower gets the log lines, then
the build's state now.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Literal

Phase = Literal["waiting", "fetching", "building", "built", "failed"]
PHASES: tuple[str, ...] = ("waiting", "fetching", "building", "built", "failed")
FINAL_PHASES = frozenset({"built", "failed"})


@dataclass(frozen=True)
class BuildEvent:
    phase: Phase
    message: str  # a log line, or a status in plain words
    progress: float | None = None  # 0..1 when known
    image: str | None = None  # set on `built`
    detail: str | None = None  # where the build is, in words ("step 3 of 5")
    elapsed: float | None = None  # seconds since the build started
    left: float | None = None  # seconds it should still take, from the previous build of the environment
    tick: bool = False  # a progress update without a log line

    def __post_init__(self):
        if self.phase not in PHASES:
            raise ValueError(f"unknown build phase {self.phase!r}")

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and not (k == "tick" and not v)}


class EventLog:
    """Every event of one build, kept in order; any number of followers read it from the start and
    then live, so a late caller sees exactly what the first one saw."""

    def __init__(self):
        self.events: list[BuildEvent] = []
        self.closed = False
        self.tick: BuildEvent | None = None  # the newest tick, and how many were published
        self.ticks = 0
        self._changed = asyncio.Condition()

    async def publish(self, event: BuildEvent) -> None:
        async with self._changed:
            if event.tick:
                self.tick, self.ticks = event, self.ticks + 1
            else:
                self.events.append(event)
            self._changed.notify_all()

    async def close(self) -> None:
        async with self._changed:
            self.closed = True
            self._changed.notify_all()

    async def follow(self) -> AsyncIterator[BuildEvent]:
        seen, ticks = 0, 0
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.events) > seen or self.closed or self.ticks != ticks)
                batch = self.events[seen:]
                tick = None
                if not batch and self.ticks != ticks and not self.closed:  # lines first, then the state now
                    tick, ticks = self.tick, self.ticks
                closed = self.closed
            for event in batch:
                yield event
            if tick is not None:
                yield tick
            seen += len(batch)
            if closed and seen == len(self.events):
                return
