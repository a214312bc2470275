"""What the daemon runs when this desktop belongs to a lab: its agent and mDNS record (PoolService), the
watch on the lab's peers (PeerMonitor, whose live view goes to `<state>/pool/peers.json` for the hub's
spawner to place servers from), and the Keeper of servers running on peers.

Nothing runs until `localhub pool init` or `join` gave this desktop a lab key; without a LAN address the
pool stays off and the daemon says why.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..config import Settings
from ..state import write_atomic
from .discovery import lan_addresses
from .trust.keys import PeerPins, read_key
from .away.monitor import PeerMonitor, PeerView
from .host.policy import IdlePolicy
from .away.remote import Keeper, RemoteServers, live_peers_path
from .host.service import PoolService

log = logging.getLogger("localhub.pool.member")


def in_a_lab(state_dir: Path) -> bool:
    return read_key(state_dir) is not None


def choose_address(settings: Settings) -> str | None:
    if settings.pool_address:
        return settings.pool_address
    found = lan_addresses()
    return found[0] if found else None


class LabMember:
    def __init__(self, settings: Settings, docker_client, address: str, say=print):
        self.settings, self.address, self.say = settings, address, say
        state = settings.state_dir
        self.service = PoolService(state, address=address, port=settings.pool_port, docker_client=docker_client,
                                   policy=IdlePolicy(idle_after=settings.pool_idle_after, start_load=settings.pool_start_load,
                                                     busy_load=settings.pool_busy_load), grace=settings.pool_grace,
                                   labels=settings.labels, emit=self._service_event)
        self.monitor = PeerMonitor(self.service.lab, [address], PeerPins(state), every=2.0, timeout=2.0,
                                   on_event=self._peer_event, on_round=self._write_peers)
        self.remote = RemoteServers(state, docker_client, settings.labels, sync_every=settings.pool_sync_every,
                                    lost_after=settings.pool_lost_after)
        self.keeper = Keeper(self.remote)

    async def start(self) -> None:
        await self.service.start()
        await self.monitor.start()
        self._write_peers()
        self.keeper.start()

    async def stop(self) -> None:
        await self.keeper.stop()
        await self.monitor.stop()
        await self.service.stop()
        live_peers_path(self.settings.state_dir).unlink(missing_ok=True)

    def _service_event(self, event: str, **data) -> None:
        if event == "listening":
            self.say(f"Pool agent for lab {self.service.lab.fingerprint} listening on "
                     f"{data['address']}:{data['port']}.")
        elif event == "state":
            log.info("this desktop is now %s: %s", data["state"], data["reason"])

    def _peer_event(self, event: str, view: PeerView) -> None:
        if event in ("added", "removed", "reachable", "unreachable"):
            log.info("peer %s %s", view.peer.name.split(".")[0], event)
        self._write_peers()

    def _write_peers(self) -> None:
        views = [v.to_dict() for v in self.monitor.views.values()]
        write_atomic(live_peers_path(self.settings.state_dir),
                     json.dumps({"at": time.time(), "address": self.address, "peers": views}, default=str))

    def status(self) -> dict:
        return {"lab": self.service.lab.fingerprint, "node": self.service.lab.node, "address": self.address,
                "port": self.service.port, "this_desktop": self.service.node.status(),
                "peers": [v.to_dict() for v in self.monitor.views.values()],
                "away": [vars(a) for a in self.remote.ledger.all()]}
