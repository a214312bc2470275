"""The launch event: one phase of a Binder launch with its message and the launch's overall progress.

The launcher makes them; the hub's /build stream carries them in BinderHub's wire format (`phase`,
`message` and BinderHub's own fields such as `imageName`, `url`, `token`), plus `progress`, the overall
fraction done (0..1, never going back), which BinderHub's clients ignore. The command line, the TUI and the
progress page draw that number and compute none of their own; likewise `elapsed` (seconds since the launch
began), `left` (seconds the build should still take, from the previous build of the same environment) and
`detail` (where the build is: "step 3 of 5").

A *tick* is an event without a log line, sent every second while a build runs so that the clock and the bar move
through a quiet step. The hub sends ticks as Server-Sent Events named `progress`, which BinderHub's clients (they
read unnamed events only) never see.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

# The phases in order, each with the part of the overall bar it spans. A build is most of a launch.
SPANS: dict[str, tuple[float, float]] = {
    "waiting": (0.0, 0.05),
    "fetching": (0.05, 0.15),
    "building": (0.15, 0.8),
    "built": (0.8, 0.8),
    "launching": (0.8, 0.99),
    "ready": (1.0, 1.0),
}
PHASES: tuple[str, ...] = (*SPANS, "failed")
FINAL = frozenset({"ready", "failed"})


@dataclass(frozen=True)
class LaunchEvent:
    phase: str  # one of PHASES
    message: str  # one line of log or status, without its newline
    progress: float = 0.0  # the whole launch's, 0..1
    fields: dict[str, Any] = field(default_factory=dict)  # BinderHub's other fields (imageName, url, token, …)
    elapsed: float | None = None  # seconds since the launch began
    left: float | None = None  # seconds the build should still take (None: unknown)
    detail: str = ""  # where the build is, in words
    tick: bool = False  # a progress update without a log line

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"unknown launch phase {self.phase!r}")

    @classmethod
    def at(cls, phase: str, message: str, within: float | None = None, **fields: Any) -> "LaunchEvent":
        """An event `within` (0..1) of the way through its phase; failed events take their progress from the
        launch (see `after`)."""
        start, end = SPANS.get(phase, (0.0, 0.0))
        done = start + (end - start) * min(max(within or 0.0, 0.0), 1.0)
        return cls(phase, message.rstrip("\n"), done, fields)

    def after(self, previous: "LaunchEvent | None") -> "LaunchEvent":
        """This event with its progress never below the previous one's (a failure keeps where it stopped)."""
        if previous is None or (self.progress >= previous.progress and self.phase != "failed"):
            return self
        return replace(self, progress=previous.progress)

    @property
    def final(self) -> bool:
        return self.phase in FINAL

    def to_wire(self) -> dict[str, Any]:
        """BinderHub's event: `message` ends with a newline, as BinderHub's log lines do (a tick has none)."""
        wire = {"phase": self.phase, "message": self.message + ("" if self.tick else "\n"), **self.fields,
                "progress": round(self.progress, 4)}
        if self.elapsed is not None:
            wire["elapsed"] = round(self.elapsed, 1)
        if self.left is not None:
            wire["left"] = round(self.left, 1)
        if self.detail:
            wire["detail"] = self.detail
        if self.tick:
            wire["tick"] = True
        return wire

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> "LaunchEvent":
        """An event read from a /build stream (also one of a hub that sends no progress: then it is the
        start of its phase)."""
        phase = data.get("phase") if data.get("phase") in PHASES else "waiting"
        ours = ("phase", "message", "progress", "elapsed", "left", "detail", "tick")
        rest = {k: v for k, v in data.items() if k not in ours}
        progress = data.get("progress")
        if not isinstance(progress, (int, float)):
            progress = SPANS.get(phase, (0.0, 0.0))[0]
        number = lambda key: float(data[key]) if isinstance(data.get(key), (int, float)) else None  # noqa: E731
        return cls(phase, str(data.get("message") or "").rstrip("\n"), float(progress), rest,
                   elapsed=number("elapsed"), left=number("left"), detail=str(data.get("detail") or ""),
                   tick=bool(data.get("tick")))
