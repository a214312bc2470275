"""What the daemon runs when this desktop belongs to a lab: its agent and mDNS record (PoolService), the
live watch on the lab's peers (PeerMonitor), the placement service the hub's spawner asks through the
daemon's API (Placement), and the Keeper of servers running on peers. All of it lives in the daemon: the
ledger of servers away is the one pool file it writes while running (besides the agent's own records).

Nothing runs until `localhub pool init` or `join` made this desktop a member of a lab (trust/members.py);
without a LAN address the pool stays off and the daemon says why.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ..config import Settings
from .away.client import PeerClient
from .away.keeper import Keeper
from .away.ledger import Ledger
from .away.monitor import PeerMonitor, PeerView
from .away.peer import Crew
from .away.placement import Placement
from .away.transfer import Transfer
from .away.tunnel import Tunnels
from .discovery import lan_addresses
from .host.policy import IdlePolicy
from .host.service import PoolService
from .hub_door import HubDoor
from .host.guest_record import recorded
from .host.share import share_path
from .trust.keys import PeerPins, pool_dir
from .trust.members import Authority, forget_membership, in_a_lab as _member_of_a_lab
from .trust.tls import away_certificates

log = logging.getLogger("localhub.pool.member")


def in_a_lab(state_dir: Path) -> bool:
    return _member_of_a_lab(state_dir)


def why_not_leave(state_dir: Path, member: "LabMember | None" = None) -> str | None:
    """What keeps this desktop in its lab, in one sentence (None: nothing). Nothing a user made is left behind:
    servers of this hub still out on peers, and guests whose homes their hubs have not taken back yet."""
    away = member.ledger.all() if member else Ledger(state_dir).all()
    runner = member.service.node.guests if member else None
    guests = list((runner.guests if runner else recorded(state_dir)).values())
    if away:
        names = ", ".join(sorted({a.server or "default" for a in away}))
        return (f"{len(away)} server(s) of this hub are still out on lab peers ({names}): stop them and let "
                "their homes come back (`localhub pool status` lists them), then leave")
    if guests:
        names = ", ".join(sorted(g.server for g in guests))
        return (f"{len(guests)} guest server(s) of other desktops are here ({names}): `localhub pool share off` "
                "and wait until their hubs have their homes back (`localhub pool status` lists them), then leave")
    return None


def forget_lab(state_dir: Path) -> None:
    """This desktop is in no lab any more: the key, the peers' pins and the sharing settings go. Its node id and
    certificate stay (its own identity, fresh to any lab it joins)."""
    (pool_dir(state_dir) / "lab.key").unlink(missing_ok=True)  # the shared key of labs before member cards
    forget_membership(state_dir)
    PeerPins(state_dir).clear()
    share_path(state_dir).unlink(missing_ok=True)


def choose_address(settings: Settings) -> str | None:
    if settings.pool_address:
        return settings.pool_address
    found = lan_addresses()
    return found[0] if found else None


class LabMember:
    def __init__(self, settings: Settings, docker_client, address: str, hub_api: tuple[str, int] | None = None,
                 say=print):
        self.settings, self.address, self.say = settings, address, say
        state = settings.state_dir
        # what keeps the hub's traffic with its servers on peers private, both ways (trust/tls.py)
        certificates = away_certificates(state, address)
        # the hub's API (gateway, port) is served on the LAN address too, over TLS, for servers on peers
        self.door = HubDoor(address, hub_api[1], hub_api, certificates.door_context()) if hub_api else None
        self.service = PoolService(state, address=address, port=settings.pool_port, docker_client=docker_client,
                                   policy=IdlePolicy(idle_after=settings.pool_idle_after, start_load=settings.pool_start_load,
                                                     busy_load=settings.pool_busy_load), grace=settings.pool_grace,
                                   labels=settings.labels, emit=self._service_event,
                                   on_newer=lambda sender, serial: self.monitor.client.newer.__setitem__(sender, serial))
        self.monitor = PeerMonitor(self.service.lab, [address], PeerPins(state), every=2.0, timeout=2.0,
                                   on_event=self._peer_event)
        client = PeerClient(self.service.lab, timeout=5.0)
        self.crew = Crew(client, Ledger(state), Transfer(state, docker_client, client, settings.labels),
                         say=lambda message: log.info("%s", message), sync_every=settings.pool_sync_every,
                         lost_after=settings.pool_lost_after, tunnels=Tunnels(certificates),
                         tls_ca=certificates.ca_pem.decode())
        self.placement = Placement(self.crew, self.peers)
        self.keeper = Keeper(self.crew)

    @property
    def ledger(self) -> Ledger:
        return self.crew.ledger

    def peers(self) -> list[dict]:
        """The lab's peers as the monitor sees them now."""
        return [v.to_dict() for v in self.monitor.views.values()]

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.crew.transfer.sweep)  # before any transfer
        if self.door:
            await self.door.start()
        await self.service.start()
        await self.crew.reopen_tunnels()
        await self.monitor.start()
        self.keeper.start()

    async def send_guests_home(self, patience: float = 30.0) -> None:
        """`localhub down`: the guests here stop, and their hubs get their homes before the agent goes."""
        await self.service.send_guests_home(self.say, patience)

    async def stop(self) -> None:
        """Stop whatever started (also after a failed start)."""
        await self.keeper.stop()
        await self.crew.tunnels.close_all()
        if getattr(self.monitor, "browser", None):
            await self.monitor.stop()
        await self.service.stop()
        if self.door:
            await self.door.stop()

    def _service_event(self, event: str, **data) -> None:
        if event == "listening":
            self.say(f"Pool agent for lab {self.service.lab.fingerprint} listening on "
                     f"{data['address']}:{data['port']}.")
        elif event == "state":
            log.info("this desktop is now %s: %s", data["state"], data["reason"])

    def _peer_event(self, event: str, view: PeerView) -> None:
        if event in ("added", "removed", "reachable", "unreachable"):
            log.info("peer %s %s", view.peer.name.split(".")[0], event)

    async def remove(self, node: str) -> dict:
        """`localhub pool remove NODE` on the desktop holding the lab's authority: a new list of removed
        desktops, kept here and given at once to every peer that answers (the others get it from any member
        within seconds)."""
        import re

        from ..errors import LocalhubError, shown

        if not re.fullmatch(r"[0-9a-f]{16}", node):
            raise LocalhubError(f"'{shown(node)}' is not a node id (16 hex digits, as `localhub pool status` lists "
                                "them).")
        authority = Authority.load(self.settings.state_dir)
        if authority is None:
            raise LocalhubError("Only the desktop that started the lab (it holds the lab's authority) can remove "
                                "a desktop; run `localhub pool remove` there.")
        if node == self.service.lab.node:
            raise LocalhubError("This desktop holds the lab's authority and cannot remove itself; `localhub pool "
                                "leave` ends the lab here.")
        lab = self.service.lab
        if node in lab.revocations.nodes:
            return {"node": node, "serial": lab.revocations.serial, "told": 0, "already": True}
        lab.accept_revocations(authority.revoke(lab.revocations, node))
        told = await self.monitor.pass_on()
        log.info("removed desktop %s from the lab (list %d), told %d peer(s)", node, lab.revocations.serial, told)
        return {"node": node, "serial": lab.revocations.serial, "told": told, "already": False}

    def status(self) -> dict:
        return {"lab": self.service.lab.fingerprint, "node": self.service.lab.node, "address": self.address,
                "port": self.service.port, "this_desktop": self.service.node.status(),
                "peers": self.peers(), "away": [vars(a) for a in self.ledger.all()]}
