"""Where a launch's time goes: the duration of each of its steps, recorded as the launch runs.

A step ends where the next begins, so the steps add up to the launch's whole time. The launcher marks what it
does itself (resolve the ref, find or build the image, the first answer through the proxy); the spawner, in
JupyterHub's process, notes when its container started and when its server answered, and hands these times
over with JupyterHub's `ready` progress event (`progress_ready_hook`). The trace travels in the launch's
`ready` event (`localhub launch --json`), is kept per server and per image for `servers ls` and `builds ls`,
and is printed by scripts/bench_launch.py.

Steps, in the order they can happen (a launch has only those it went through):
    resolve          the link's ref to an immutable id (or the bundle/class that provides it)
    find image       the built image looked up (no build)
    build            repo2docker's build, when the image was not there
    stop old server  a running server restarted for a newer build
    start container  the server's start requested, the hub's and spawner's checks, container created/started
    server ready     the started container until its Jupyter server answers HTTP
    route added      the hub's own check and the proxy's route, until JupyterHub reports the server ready
    server running   the server was already running this environment (instead of the three above)
    first response   the server answers through the proxy (the launch's token is made meanwhile)
"""

from __future__ import annotations

import time

STEPS = ("resolve", "find image", "build", "stop old server", "start container", "server ready", "route added",
         "server running", "first response")

# the spawner's marks (unix times) as they appear in JupyterHub's ready event, and the step each one ends
SPAWNER_MARKS = (("started", "start container"), ("answered", "server ready"))


class LaunchTrace:
    def __init__(self, clock=time.time):
        self._clock = clock
        self.started = clock()
        self._last = self.started
        self.steps: list[tuple[str, float]] = []

    def mark(self, step: str, at: float | None = None) -> None:
        """`step` ended at `at` (unix time; now if None) and took the time since the previous mark. Times
        from another process that seem earlier than the previous mark (clock jitter) count as zero."""
        if step not in STEPS:
            raise ValueError(f"unknown launch step {step!r}")
        at = self._clock() if at is None else at
        at = min(max(at, self._last), self._clock())
        self.steps.append((step, at - self._last))
        self._last = at

    def mark_spawner(self, marks: dict | None) -> None:
        """The spawner's own marks, as far as it reached them (a server on a lab peer has no local container)."""
        for key, step in SPAWNER_MARKS:
            at = (marks or {}).get(key)
            if isinstance(at, (int, float)):
                self.mark(step, float(at))

    @property
    def total(self) -> float:
        return self._last - self.started

    def to_wire(self) -> dict:
        """{"steps": [{"step", "seconds"}, …], "total": seconds} (rounded to the millisecond)."""
        return {"steps": [{"step": step, "seconds": round(seconds, 3)} for step, seconds in self.steps],
                "total": round(self.total, 3), "at": round(self.started, 3)}
