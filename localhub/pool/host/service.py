"""This desktop's presence in the pool: the agent, the mDNS record, and the watch on the owner, run together.

The daemon runs one `PoolService` (with a Docker engine, so that it takes guests); `python -m
localhub.pool.host.service --state-dir DIR` runs one alone, without guests (tests of discovery run one per
network namespace). It prints one JSON line per event on stdout (listening,
registered, state) and stops cleanly on SIGTERM or SIGINT: the mDNS goodbye is sent, so browsers drop it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from pathlib import Path

from ...errors import LocalhubError
from ..entry import run_main
from .agent import Agent
from ..discovery import Advertiser, lan_addresses, new_zeroconf
from .guests import GuestRunner
from .idle import IdleSources
from ..trust.members import load_membership
from .node import OFF, Node
from .policy import IdlePolicy
from ..trust.tls import ensure_certificate, server_context

DEFAULT_PORT = 8470
UNCLAIMED_AFTER = 3600.0  # seconds a home sent ahead of a run that never came is kept

log = logging.getLogger("localhub.pool.host.service")


class PoolService:
    def __init__(self, state_dir: Path, address: str | None = None, port: int = DEFAULT_PORT,
                 sources: IdleSources | None = None, policy: IdlePolicy | None = None,
                 txt_interval: float = 5.0, tick: float = 2.0, label: str | None = None, emit=None,
                 docker_client=None, grace: float = 600.0, labels: dict | None = None, on_newer=None):
        self.state_dir, self.address, self.port = Path(state_dir), address, port
        self.txt_interval, self.tick_every, self.label, self.grace = txt_interval, tick, label, grace
        self.emit = emit or (lambda event, **data: None)
        self.lab = load_membership(self.state_dir)
        self.node = Node(self.state_dir, self.lab, sources, policy)
        self.agent = Agent(self.lab, self.node, on_newer=on_newer)
        self.docker, self.labels = docker_client, labels
        self._task: asyncio.Task | None = None
        self._swept = 0.0  # when unclaimed uploads were last looked for

    async def start(self) -> None:
        if not self.address:
            found = lan_addresses()
            if not found:
                raise LocalhubError("No LAN address found (only loopback, Docker bridges or tunnels); name the "
                                    "address to share on with --address.")
            self.address = found[0]
        if self.docker is not None:
            self.node.guests = GuestRunner(self.docker, self.state_dir, self.address, self.labels)
            await asyncio.get_running_loop().run_in_executor(None, self.node.guests.sweep)
            if self.node.guests.isolation_problem:
                log.warning("this desktop takes no guests: %s", self.node.guests.isolation_problem)
        cert_path, key_path, self.cert = ensure_certificate(self.state_dir, self.lab.node)
        self.port = self.agent.listen(self.address, self.port, server_context(cert_path, key_path))
        self.emit("listening", address=self.address, port=self.port, node=self.lab.node, cert=self.cert)
        self.azc = new_zeroconf([self.address])
        self.advertiser = Advertiser(self.azc, self.lab, self.cert, self.address, self.port,
                                     min_interval=self.txt_interval, label=self.label)
        snap = self.node.tick()
        began = time.monotonic()
        await self.advertiser.start(state=snap.state, slots=snap.slots, gpu=self.node.gpu)
        self.emit("registered", name=self.advertiser.name, took=round(time.monotonic() - began, 3),
                  state=snap.state)
        self._task = asyncio.ensure_future(self._watch(snap.state))

    async def _watch(self, state: str) -> None:
        while True:
            await asyncio.sleep(self.tick_every)
            try:
                if self.node.guests is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.node.guests.measure_cpu)
                snap = self.node.tick()
            except Exception:  # a bad read must not end the watch; the next tick tries again
                log.exception("reading this desktop's state failed")
                continue
            self.advertiser.set(state=snap.state, slots=snap.slots)
            if self.node.guests is not None and not self.node.closing:
                try:
                    # the owner's return pauses guests; a desktop merely full of guests ("busy") does not
                    keep = snap.decision.accepting and snap.state != OFF
                    await asyncio.get_running_loop().run_in_executor(
                        None, self.node.guests.follow_owner, keep, snap.reason, self.grace)
                except Exception:
                    log.exception("pausing, resuming or stopping guests failed")
            if snap.state != state:
                state = snap.state
                self.emit("state", state=state, reason=snap.reason)
            if self.node.guests is not None and time.monotonic() > self._swept + 60:
                self._swept = time.monotonic()
                await asyncio.get_running_loop().run_in_executor(
                    None, self.node.guests.drop_unclaimed_uploads, UNCLAIMED_AFTER)

    async def send_guests_home(self, say, patience: float) -> None:
        """The owner stops localhub: take no new guests, stop those here, and keep the agent up to `patience`
        seconds while their hubs take their homes back (each hub's keeper does within seconds). A home not
        taken by then stays in its volume, and its hub takes it when this desktop is up again."""
        runner = self.node.guests
        self.node.closing = True
        self.advertiser.set(state=OFF, slots=0)
        if runner is None or not runner.guests:
            return
        loop = asyncio.get_running_loop()
        stopped = await loop.run_in_executor(None, runner.evict_all, "its desktop's owner stopped localhub; its "
                                                                     "files are on their way home")
        say(f"Stopped {stopped} guest server(s) of other desktops; waiting up to {patience:.0f} s for their hubs "
            "to take their homes back…")
        deadline = time.monotonic() + patience
        while runner.guests and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        if runner.guests:
            say(f"{len(runner.guests)} guest home(s) stay here until their hubs fetch them (when this desktop is "
                "up again): " + ", ".join(sorted(g.server for g in runner.guests.values())) + ".")
        else:
            say("Every guest's home is back with its hub.")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if getattr(self, "advertiser", None):
            await self.advertiser.stop()
        if getattr(self, "azc", None):
            await self.azc.async_close()
        await self.agent.close()
        self.emit("stopped")


async def _serve(args) -> int:
    def emit(event: str, **data) -> None:
        print(json.dumps({"event": event, "at": time.time(), **data}), flush=True)

    service = PoolService(Path(args.state_dir), address=args.address, port=args.port,
                          policy=IdlePolicy(idle_after=args.idle_after, start_load=args.start_load,
                                            busy_load=args.busy_load), txt_interval=args.txt_interval,
                          tick=args.tick, label=args.label, emit=emit)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    await stop.wait()
    await service.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localhub.pool.host.service",
                                     description="Run this desktop's agent and mDNS record until stopped.")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--address", help="LAN address to serve and announce on (default: found automatically)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"agent port (default {DEFAULT_PORT})")
    parser.add_argument("--txt-interval", type=float, default=5.0, help="least seconds between TXT updates")
    parser.add_argument("--tick", type=float, default=2.0, help="seconds between readings of the owner's state")
    parser.add_argument("--idle-after", type=float, default=IdlePolicy.idle_after,
                        help="seconds without owner input before guests are accepted (default 900)")
    parser.add_argument("--start-load", type=float, default=IdlePolicy.start_load,
                        help="most load per core (not from guests) at which guests are accepted (default 0.3)")
    parser.add_argument("--busy-load", type=float, default=IdlePolicy.busy_load,
                        help="load per core that, lasting 2 min, counts as the owner's own work (default 0.5)")
    parser.add_argument("--label", help="readable part of the mDNS name (default: the host name)")
    args = parser.parse_args(argv)
    return run_main(_serve(args), level="INFO", fmt="%(asctime)s %(name)s %(levelname)s %(message)s")


if __name__ == "__main__":
    sys.exit(main())
