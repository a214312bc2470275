"""When this desktop accepts guests: HTCondor's desktop policy, as pure functions of a few readings.

Not accepting -> accepting ("idle") once the owner has not touched the desktop for `idle_after` (15 min)
and the load not caused by guests is at most `start_load` (0.3) per core. Accepting -> owner present as soon
as there was input in the last `owner_window` (60 s); accepting -> busy when other load stays above
`busy_load` (0.5 per core, HTCondor's HighLoad) for `busy_for` (2 min). Unknown input counts as the owner
being there, unless the owner shares with --assume-idle. All thresholds are settings.

`decide()` takes the previous decision (or None) and a sample, and returns the next decision: no clock, no
I/O, so every transition is a unit test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

IDLE, BUSY, OWNER = "idle", "busy", "owner"


@dataclass(frozen=True)
class IdlePolicy:
    idle_after: float = 15 * 60  # seconds without owner input before guests are accepted
    start_load: float = 0.3  # other load per core at most this to start accepting
    owner_window: float = 60  # input this recent means the owner is back
    busy_load: float = 0.5  # other load per core above this is the owner's own work...
    busy_for: float = 120  # ...once it lasts this long


@dataclass(frozen=True)
class Sample:
    at: float  # a monotonic time
    since_input: float | None  # seconds since owner input; None: unknown
    other_load: float  # load per core not caused by guests
    assume_idle: bool = False  # the owner said: no idle source here, share anyway


@dataclass(frozen=True)
class Decision:
    state: str  # idle (accepting) | busy | owner
    reason: str
    busy_since: float | None = None  # when other load went above busy_load while accepting

    @property
    def accepting(self) -> bool:
        return self.state == IDLE


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def decide(policy: IdlePolicy, previous: Decision | None, sample: Sample) -> Decision:
    since = sample.since_input
    if since is None:
        if not sample.assume_idle:
            return Decision(OWNER, "no idle source can be read, so the desktop counts as in use "
                                   "(`localhub pool share on --assume-idle` shares it anyway)")
        since = float("inf")
    load = sample.other_load
    if previous is not None and previous.accepting:
        if since < policy.owner_window:
            return Decision(OWNER, f"the owner is back (input {_minutes(since)} ago)")
        if load > policy.busy_load:
            busy_since = previous.busy_since if previous.busy_since is not None else sample.at
            if sample.at - busy_since >= policy.busy_for:
                return Decision(BUSY, f"the owner's own load has been {load:.2f} per core for "
                                      f"{_minutes(sample.at - busy_since)}")
            return replace(previous, busy_since=busy_since)
        return replace(previous, busy_since=None)
    if since < policy.idle_after:
        return Decision(OWNER, f"owner input {_minutes(since)} ago; accepts guests after "
                               f"{_minutes(policy.idle_after)} without input")
    if load > policy.start_load:
        return Decision(BUSY, f"load {load:.2f} per core; accepts guests at {policy.start_load} or less")
    why = "no owner input for " + (_minutes(since) if since != float("inf") else "an unknown time (--assume-idle)")
    return Decision(IDLE, f"{why} and load {load:.2f} per core")
