"""This desktop as the pool sees it: the owner's share settings, the idle reading, the policy's decision and
the live figures, combined into one state (advertised) and one status (served by the agent).

States: `idle` (accepting guests), `busy` (the owner's own load, or no room left), `owner` (the owner is
there, or cannot be ruled out), `off` (not shared now: sharing is off or outside the owner's hours).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ... import __version__
from .idle import IdleReading, IdleSources, default_sources
from ..trust.members import Membership
from .machine import Figures, read_figures
from .policy import BUSY, IDLE, Decision, IdlePolicy, Sample, decide
from .share import Share, free_slots, judge_offer, load_share

OFF = "off"


@dataclass(frozen=True)
class Snapshot:
    state: str
    reason: str
    share: Share
    idle: IdleReading
    figures: Figures
    decision: Decision
    slots: int
    at: float  # time.time()


class Node:
    def __init__(self, state_dir: Path, lab: Membership, sources: IdleSources | None = None,
                 policy: IdlePolicy | None = None, gpu: bool = False, figures=read_figures):
        self.state_dir, self.lab, self.gpu = Path(state_dir), lab, gpu
        self.read_figures = figures  # a function of the state dir; tests pass fixed figures
        self.sources = sources or default_sources(state_dir)
        self.policy = policy or IdlePolicy()
        self.decision: Decision | None = None
        self.snapshot: Snapshot | None = None
        self.guests = None  # a GuestRunner once the daemon runs guests here
        self.closing = False  # the owner is stopping localhub: no new guests

    def in_use(self) -> dict | None:
        return self.guests.in_use() if self.guests else None

    def tick(self) -> Snapshot:
        """Read everything once and decide; call every few seconds (the busy-for timer counts ticks' times)."""
        share = load_share(self.state_dir)
        idle = self.sources.read()
        figures = self.read_figures(self.state_dir)
        # Guests' load is not the owner's: what they use, measured from their cgroups and averaged like the
        # load (GuestRunner.measure_cpu), is taken off the load.
        in_use = self.in_use()
        guest_cpus = self.guests.cpu_used if self.guests else 0.0
        other_load = max(0.0, figures.load1 - guest_cpus) / max(1, figures.cpus)
        sample = Sample(at=time.monotonic(), since_input=idle.seconds, other_load=other_load,
                        assume_idle=share.assume_idle)
        self.decision = decide(self.policy, self.decision, sample)
        hour = time.localtime().tm_hour
        slots = free_slots(share, figures, self.decision, hour, in_use)
        if self.closing:
            state, reason = OFF, "its owner is stopping localhub"
        elif not share.enabled:
            state, reason = OFF, "sharing is off (`localhub pool share on` turns it on)"
        elif not share.in_hours(hour):
            state, reason = OFF, f"outside the owner's sharing hours ({share.hours})"
        elif self.decision.state == IDLE and slots == 0:
            state, reason = BUSY, "idle, but no room left for a default-profile server within the owner's limits"
        else:
            state, reason = self.decision.state, self.decision.reason
        self.snapshot = Snapshot(state, reason, share, idle, figures, self.decision, slots, time.time())
        return self.snapshot

    def status(self) -> dict:
        snap = self.snapshot or self.tick()
        return {
            "node": self.lab.node, "lab": self.lab.fingerprint, "version": __version__,
            "revoked": self.lab.revocations.serial,
            "state": snap.state, "reason": snap.reason, "slots": snap.slots, "gpu": self.gpu,
            "idle": {"seconds": snap.idle.seconds, "source": snap.idle.source},
            "figures": snap.figures.to_dict(),
            "sharing": {**asdict(snap.share), "limits": snap.share.limits(snap.figures)},
            "guests": [g.to_dict() for g in self.guests.guests.values()] if self.guests else [],
            "isolation": (self.guests.isolation_problem or "enforced") if self.guests else "no engine",
            "at": snap.at,
        }

    def offer(self, ask: dict) -> tuple[bool, str]:
        snap = self.tick()  # an offer deserves fresh figures, not the last tick's
        if self.closing:
            return False, snap.reason
        return judge_offer(ask, snap.share, snap.figures, snap.decision, time.localtime().tm_hour, self.in_use())
