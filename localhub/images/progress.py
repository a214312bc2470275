"""How far a build has got, read from its own output, and how long it should take, from the previous build of
the same environment.

The output is BuildKit's (`#7 [3/5] RUN …` starts step 3 of 5, `#7 DONE 0.6s` or `#7 CACHED` ends it, `[stage-1
2/3]` counts per stage, `#10 exporting layers`, `#4 sha256:… 12.5MB / 30.1MB` while bytes move) or the legacy
builder's (`Step 3/5 : …`). The fraction is the steps finished; with the previous build's duration it also
follows the clock, but never past the end of the step that runs (a slow step holds the bar at its own end, it
does not run ahead). Without a previous build the bar moves step by step and the elapsed time still counts.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from ..state import write_atomic

_BUILDKIT_STEP = re.compile(r"^#(\d+) \[(?:(\S+) +)?\s*(\d+)/(\d+)\] (.*)$")  # `#7 [ 3/19] RUN …`, `[stage-1 2/3]`
_BUILDKIT_END = re.compile(r"^#(\d+) (?:DONE [\d.]+s|CACHED)$")
_BUILDKIT_EXPORT = re.compile(r"^#\d+ (exporting layers|exporting to image|writing image)")
_BUILDKIT_BYTES = re.compile(r"^#\d+ sha256:[0-9a-f]+ ([\d.]+)([kMG]?B) / ([\d.]+)([kMG]?B)")
_LEGACY_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
EXPORT_AT = 0.97  # the fraction at which the steps are done and the layers are being written


def _bytes(number: str, unit: str) -> float:
    return float(number) * _UNITS.get(unit, 1)


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


class BuildProgress:
    """Fed a build's output line by line; says how far it is (`fraction`, 0..1), at which step (`detail`), since
    when (`elapsed`) and how long it should still take (`left`, None when there is no previous build to go by)."""

    def __init__(self, expected: float | None = None, clock=time.monotonic):
        self.clock = clock
        self.started = clock()
        self.expected = expected if expected and expected > 0 else None
        self.totals: dict[str, int] = {}  # steps per stage
        self.steps: dict[str, tuple[str, int]] = {}  # BuildKit vertex -> (stage, step number)
        self.finished: set[str] = set()  # vertices done or cached
        self.legacy_done = 0  # the legacy builder's steps before the one running
        self.current = ""  # what runs now, in words
        self.exporting = False
        self.transfer: tuple[float, float] | None = None  # bytes moved, of how many

    # --- reading output ---------------------------------------------------------------------------
    def feed(self, line: str) -> None:
        line = line.rstrip()
        if match := _BUILDKIT_STEP.match(line):
            vertex, stage, step, total = match[1], match[2] or "", int(match[3]), int(match[4])
            self.totals[stage] = max(self.totals.get(stage, 0), total)
            self.steps[vertex] = (stage, step)
            self.current = f"step {step} of {total}" + (f" ({stage})" if stage else "")
            self.transfer = None
        elif (match := _BUILDKIT_END.match(line)) and match[1] in self.steps:
            self.finished.add(match[1])
        elif _BUILDKIT_EXPORT.match(line):
            self.exporting = True
            self.current = "writing the image's layers"
        elif match := _BUILDKIT_BYTES.match(line):
            self.transfer = (_bytes(match[1], match[2]), _bytes(match[3], match[4]))
        elif match := _LEGACY_STEP.match(line):
            step, total = int(match[1]), int(match[2])
            self.totals[""] = max(self.totals.get("", 0), total)
            self.legacy_done = max(self.legacy_done, step - 1)
            self.current = f"step {step} of {total}"

    # --- what to show -----------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def steps_done(self) -> int:
        return len(self.finished) + self.legacy_done

    def step_fraction(self) -> float:
        """Steps finished, as a fraction below EXPORT_AT; EXPORT_AT once the layers are being written."""
        if self.exporting:
            return EXPORT_AT
        if not self.total:
            return 0.0
        return round(EXPORT_AT * min(self.steps_done(), self.total) / self.total, 4)

    def fraction(self) -> float:
        done = self.step_fraction()
        if self.expected is None or self.exporting:
            return done
        # the clock may carry the bar to the end of the running step, never further
        ceiling = EXPORT_AT * min(self.steps_done() + 1, self.total) / self.total if self.total else 0.0
        by_clock = EXPORT_AT * self.elapsed() / self.expected
        return round(max(done, min(by_clock, ceiling)), 4)

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.started)

    def left(self) -> float | None:
        """Seconds still expected, from the previous build; None without one or once past it."""
        if self.expected is None:
            return None
        left = self.expected - self.elapsed()
        return left if left > 0 else None

    def detail(self) -> str:
        parts = [self.current] if self.current else []
        if self.transfer and self.transfer[1]:
            parts.append(f"{_size(self.transfer[0])} of {_size(self.transfer[1])}")
        if self.expected is not None and self.left() is None:
            parts.append(f"taking longer than last time ({clock_text(self.expected)})")
        return ", ".join(parts)


def clock_text(seconds: float) -> str:
    """`75` -> `1:15`, `3725` -> `1:02:05`."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class BuildTimes:
    """How long the last successful build of each environment took (a small JSON file next to the build logs,
    written by the daemon's builder alone)."""

    def __init__(self, path: Path):
        self.path = path

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def previous(self, environment: str) -> float | None:
        seconds = self._read().get(environment)
        return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None

    def record(self, environment: str, seconds: float) -> None:
        data = self._read()
        data[environment] = round(seconds, 1)
        write_atomic(self.path, json.dumps(data, indent=1))
