"""A lab peer as a placement target: the journey out, following the server there, and the journey home.

Out: the image goes to the peer unless it already has it, then the server's home (if it has one yet), then
the run request. Home: the peer stops the guest (the user stopped it, or the peer's owner came back and the
grace period ran out), the home comes back as a checked archive and replaces the local home volume, and only
then is the peer told to forget it. While a server is away its local volume holds the last synced copy of its
home (keeper.py refreshes it): when a peer vanishes, that copy is what the server restarts with. Should the
peer come back after the user restarted the server, the peer's newer copy is restored next to it (volume
`…--from-<peer>-<date>`), never over it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass
from typing import Callable

from ...errors import LocalhubError

from .client import PeerAddress, PeerClient, PeerError, PeerRefused
from .ledger import LOST, RETURNING, RUNNING, Away, Ledger
from .target import Offer, Target
from .transfer import Transfer
from .tunnel import Tunnels

log = logging.getLogger("localhub.pool.away.peer")
# a guest's stop waits for its server to shut down (the agent gives it 10 s, then the engine kills it)
STOP_PATIENCE = 30.0


def peer_name(view: dict) -> str:
    return view.get("name", "").split(".")[0]


def address_of(view: dict) -> PeerAddress:
    return PeerAddress(view["node"], view["address"], int(view["port"]), view["cert"])


@dataclass
class Crew:
    """What every peer target shares: the agent client, the ledger, the transfers, and how to tell the user."""

    client: PeerClient
    ledger: Ledger
    transfer: Transfer
    say: Callable[[str], None]
    sync_every: float = 300.0
    lost_after: float = 60.0
    tunnels: Tunnels | None = None  # None only in tests of decisions, which start no server
    tls_ca: str = ""  # this hub's authority for its servers on peers (trust/tls.py), sent with each run

    def done_with(self, guest: str) -> None:
        """A server is no longer away: its entry and its tunnel go."""
        self.ledger.remove(guest)
        if self.tunnels is not None:
            asyncio.ensure_future(self.tunnels.close(guest))

    async def reopen_tunnels(self) -> None:
        """After a restart: JupyterHub still routes servers away to the ports the ledger keeps."""
        if self.tunnels is None:
            return
        for away in self.ledger.all():
            if away.state == RUNNING and away.cert and away.tunnel:
                port = await self.tunnels.open(away.guest, away.address, away.port, away.cert, away.tunnel)
                if port != away.tunnel:
                    self.ledger.update(away.guest, tunnel=port)


class LabPeer(Target):
    """One peer of the lab, reached through its agent."""

    def __init__(self, view: dict, crew: Crew):
        self.view, self.crew = view, crew
        self.address, self.name = address_of(view), peer_name(view) or view["node"]

    @classmethod
    def of(cls, away: Away, crew: Crew) -> "LabPeer":
        """The peer a ledger entry is on (it may have left the LAN since)."""
        return cls({**away.peer, "name": away.peer_name}, crew)

    @property
    def ledger(self) -> Ledger:
        return self.crew.ledger

    async def offer(self, ask: dict) -> Offer:
        try:
            answer = await self.crew.client.offer(self.address, ask)
        except PeerError as err:
            return Offer(False, str(err))
        return Offer(bool(answer["accept"]), answer.get("reason", ""))

    async def run(self, request: dict, note) -> Away:
        """Send the server out: image, home, run request. The ledger has it from before the first byte leaves."""
        user, server = request["user"], request["server"]
        away = Away(guest=request["guest"], user=user, server=server, volume=request["volume"],
                    image=request["image"], peer={**asdict(self.address), "name": self.name})
        self.ledger.put(away)
        try:
            digest = await self.crew.transfer.send_image(self.address, away.image, note)
            await self.crew.transfer.send_home(self.address, away.guest, away.volume, away.image, note)
            note(f"Starting {server or 'the default server'} on {self.name}…")
            hub_address, hub_port = request["hub"]
            answer = await self.crew.client.request(self.address, "POST", "/pool/v1/guests", {
                "guest": away.guest, "server": f"{user}/{server}", "image": away.image, "image_id": digest,
                **request["ask"], "env": request["env"], "cmd": request["cmd"],
                "hub": {"address": hub_address, "port": hub_port}, "tls": {"ca": self.crew.tls_ca}})
            tunnel = 0
            if self.crew.tunnels is not None:
                if not answer.get("cert"):
                    await self.crew.client.request(self.address, "DELETE", f"/pool/v1/guests/{away.guest}")
                    raise LocalhubError(f"{self.name} runs a localhub that serves guests without TLS; update it "
                                        "(servers never run on peers in clear).")
                tunnel = await self.crew.tunnels.open(away.guest, answer["address"], answer["port"], answer["cert"])
        except BaseException:
            # nothing ran remotely: the home at this hub is still the only one, and current
            self.crew.done_with(away.guest)
            raise
        return self.ledger.update(away.guest, state=RUNNING, address=answer["address"], port=answer["port"],
                                  cert=answer.get("cert", ""), tunnel=tunnel, seen=time.time(),
                                  synced=time.time(), remote_state=answer["state"])

    async def _status(self, guest: str) -> dict:
        return await self.crew.client.request(self.address, "GET", f"/pool/v1/guests/{guest}")

    async def poll(self, guest: str) -> int | None:
        """None while the server runs (or is paused) on the peer; an exit status once it is not."""
        away = self.ledger.get(guest)
        if away is None or away.state != RUNNING:
            return 0
        try:
            status = await self._status(guest)
        except PeerRefused as err:
            if err.code == "no-guest":
                self.ledger.update(guest, state=LOST, notice="the peer no longer knows this server")
                return 1
            raise
        except PeerError as err:
            lost_after = self.crew.lost_after
            if time.time() - away.seen > lost_after:
                self.ledger.update(guest, state=LOST, notice=f"the peer has been unreachable for over "
                                                             f"{lost_after:.0f} s ({err})")
                self.crew.say(f"{away.server}: {away.peer_name} is unreachable; the server counts as lost, and "
                              "its home as last synced is kept here.")
                return 1
            return None
        self.ledger.update(guest, seen=time.time(), notice=status.get("notice", ""), remote_state=status["state"])
        if status["state"] in ("running", "paused"):
            return None
        self.ledger.update(guest, state=RETURNING)
        await self.bring_home(guest)
        return 0

    async def stop(self, guest: str) -> None:
        """Stop the server on the peer and bring its home back (or leave that to the keeper, if the peer is
        unreachable now: the last synced copy is already here)."""
        away = self.ledger.update(guest, state=RETURNING)
        if away is None:
            return
        try:
            await self.crew.client.request(self.address, "POST", f"/pool/v1/guests/{guest}/stop",
                                           patience=STOP_PATIENCE)
            await self.bring_home(guest)
        except PeerError as err:
            self.crew.say(f"{away.server}: could not bring the home back from {away.peer_name} now ({err}); it "
                          "will be fetched when the peer answers again.")

    async def bring_home(self, guest: str) -> None:
        """Fetch the home, restore it, and have the peer forget the guest."""
        transfer = self.crew.transfer
        async with transfer.locks[guest]:
            away = self.ledger.get(guest)
            if away is None:
                return
            target = away.volume
            if away.superseded or await transfer.in_use(away.volume):
                target = f"{away.volume}--from-{away.peer_name}-{time.strftime('%Y%m%d-%H%M')}"[:200]
            try:
                archive = await transfer.fetch_home(self.address, guest, target, away.image, self._labels(away))
            except PeerRefused as err:
                if err.code != "no-guest":
                    raise
                self.crew.done_with(guest)  # nothing left there to bring back: the last synced home is here
                self.crew.say(f"{away.server}: {away.peer_name} no longer has it; its home as last synced is "
                              "kept here.")
                return
            await self.crew.client.request(self.address, "DELETE", f"/pool/v1/guests/{guest}")
            self.crew.done_with(guest)
        transfer.locks.pop(guest, None)
        where = "into its home" if target == away.volume else f"into volume {target} (the server was " \
                                                                "restarted meanwhile, so it was not overwritten)"
        self.crew.say(f"{away.server}: home back from {away.peer_name} ({archive.size / 1e6:.1f} MB at "
                      f"{archive.rate:.0f} MB/s) {where}.")

    async def sync(self, guest: str) -> None:
        """Copy the running server's home to the local volume (the copy a lost server restarts with)."""
        async with self.crew.transfer.locks[guest]:
            away = self.ledger.get(guest)
            if away is None or away.state != RUNNING:
                return
            if await self.crew.transfer.in_use(away.volume):
                # the home is in use here: this run is an orphan, and a sync would overwrite the server's files
                self.ledger.update(guest, state=RETURNING, superseded=True)
                return
            archive = await self.crew.transfer.fetch_home(self.address, guest, away.volume, away.image,
                                                          self._labels(away))
            self.ledger.update(guest, synced=time.time(), seen=time.time())
        log.info("synced the home of %s from %s (%.1f MB)", away.server, away.peer_name, archive.size / 1e6)

    async def forget(self, guest: str) -> None:
        away = self.ledger.get(guest)
        if away is None:
            return
        try:
            await self.crew.client.request(self.address, "DELETE", f"/pool/v1/guests/{guest}")
        except PeerError as err:
            self.crew.say(f"{away.server} is deleted, but {away.peer_name} could not be told to drop its copy "
                          f"({err}).")
        self.crew.done_with(guest)

    @staticmethod
    def _labels(away: Away) -> dict:
        return {"localhub.user": away.user, "localhub.server": away.server}
