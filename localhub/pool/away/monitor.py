"""The lab as this desktop sees it, live: peers found by mDNS, each checked through its agent.

mDNS says a peer exists (and keeps saying so for a crashed one until the cache expires); the agent's signed
status says whether it is alive and what it has free. A peer whose agent does not answer is `unreachable`
whatever its record says, and is checked again every `every` seconds.

    python -m localhub.pool.away.monitor --state-dir DIR [--seconds N] [--every 1] [--interface ADDR]
prints one JSON line per change (added, updated, removed, reachable, unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass

from ..entry import run_main
from .client import PeerClient, PeerError
from ..discovery import Peer, PeerBrowser, lan_addresses, new_zeroconf, until_stopped
from ..trust.keys import PeerPins
from ..trust.members import Membership, load_membership


@dataclass
class PeerView:
    peer: Peer
    live: dict | None = None  # the agent's last status
    error: str | None = None  # why the last check failed
    checked: float = 0.0  # time.time() of the last check

    @property
    def state(self) -> str:
        if self.live is not None:
            return self.live.get("state", "?")
        return "unreachable" if self.error else "unknown"

    def to_dict(self) -> dict:
        return {**self.peer.to_dict(), "advertised_state": self.peer.state, "state": self.state,
                "live": self.live, "error": self.error, "checked": self.checked}


class PeerMonitor:
    def __init__(self, lab: Membership, addresses: list[str], pins: PeerPins | None = None, every: float = 2.0,
                 timeout: float = 2.0, on_event=None, on_round=None):
        self.lab, self.addresses, self.pins, self.every = lab, addresses, pins, every
        self.client = PeerClient(lab, timeout=timeout)
        self.on_event = on_event or (lambda event, view: None)
        self.on_round = on_round or (lambda: None)  # after every round of checks: live figures changed
        self.views: dict[str, PeerView] = {}
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.azc = new_zeroconf(self.addresses)
        self.browser = PeerBrowser(self.azc, self.lab, self.pins, on_change=self._changed)
        await self.browser.start()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.browser.stop()
        await self.azc.async_close()

    @property
    def others(self) -> dict[str, str]:
        return self.browser.others

    def _changed(self, event: str, peer: Peer) -> None:
        if event == "removed":
            view = self.views.pop(peer.name, None)
            self.on_event("removed", view or PeerView(peer))
            return
        view = self.views.get(peer.name)
        if view is None:
            view = self.views[peer.name] = PeerView(peer)
            asyncio.ensure_future(self.check(view))  # a new peer is checked at once, not at the next round
        view.peer = peer
        self.on_event(event, view)

    async def check(self, view: PeerView) -> None:
        was = view.state
        if self.lab.is_revoked(view.peer.node):
            view.live, view.error = None, "removed from this lab"
        else:
            try:
                view.live, view.error = await self.client.status(view.peer), None
            except PeerError as err:
                view.live, view.error = None, str(err)
            if view.peer.node in self.client.newer:  # it holds a newer list of removed desktops: take it
                try:
                    await self.client.catch_up(view.peer)
                except PeerError:
                    pass
        view.checked = time.time()
        if (view.live is None) != (was == "unreachable") or was == "unknown":
            self.on_event("reachable" if view.live is not None else "unreachable", view)

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(v) for v in list(self.views.values())))

    async def pass_on(self) -> int:
        """Give every reachable peer this desktop's list of removed desktops (after `pool remove`, or when a
        newer one arrived); returns how many took it."""
        async def one(view: PeerView) -> bool:
            try:
                await self.client.pass_on(view.peer)
                return True
            except PeerError:
                return False

        views = [v for v in self.views.values() if not self.lab.is_revoked(v.peer.node)]
        return sum(await asyncio.gather(*(one(v) for v in views)))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.check_all()
            self.on_round()


async def _run(args) -> int:
    lab = load_membership(args.state_dir)
    started = time.time()

    def emit(event: str, view: PeerView) -> None:
        print(json.dumps({"event": event, "at": time.time(), "since_start": round(time.time() - started, 4),
                          "peer": view.to_dict()}, default=str), flush=True)

    monitor = PeerMonitor(lab, [args.interface] if args.interface else lan_addresses(), PeerPins(args.state_dir),
                          every=args.every, timeout=args.timeout, on_event=emit)
    await monitor.start()
    print(json.dumps({"event": "watching", "at": started, "addresses": monitor.addresses}), flush=True)
    try:
        await until_stopped(args.seconds)
    finally:
        await monitor.stop()
    print(json.dumps({"event": "peers", "at": time.time(), "peers": [v.to_dict() for v in monitor.views.values()],
                      "others": monitor.others}, default=str), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localhub.pool.away.monitor")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--seconds", type=float, default=3600.0, help="how long to watch (default 1 h)")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between agent checks (default 2)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds an agent has to answer (default 2)")
    parser.add_argument("--interface", help="LAN address to watch on (default: found automatically)")
    args = parser.parse_args(argv)
    return run_main(_run(args))


if __name__ == "__main__":
    sys.exit(main())
