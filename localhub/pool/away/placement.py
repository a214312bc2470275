"""Where a server runs: the placement targets, the choice between them, and the daemon's placement service.

A target (target.py) is one small class with the same verbs: `offer`, `run`, `poll`, `stop`. Two kinds exist:
`ThisDesktop` (target.py; the hub's own DockerSpawner runs it, so the daemon only judges its fit) and `LabPeer`
(peer.py, through the peer's agent). A new kind (a Podman engine, a cluster) is one new file beside peer.py,
asked in the order `choose` gives.

`where` is what the user asked: `local`, `auto` (here if it fits, else the idle peer with most room), or a
peer's name or node id (as `localhub pool status` shows it). The hub's spawner asks `Placement` through the
daemon's API (api_hub.py): choose, start, poll, stop, forget.
"""

from __future__ import annotations

import logging
from typing import Callable

from ...errors import LocalhubError
from .ledger import LOST, RETURNING, Away, Ledger
from .peer import Crew, LabPeer, peer_name
from .target import Target, ThisDesktop

log = logging.getLogger("localhub.pool.away.placement")


def candidates(where: str, peers: list[dict]) -> list[dict]:
    """Peers to ask, best first. `where` is "auto" (idle peers, most free capacity first) or a peer's node id
    or name. Raises LocalhubError when a named peer is not there or does not answer."""
    if where == "auto":
        idle = [p for p in peers if p.get("live") and p["live"].get("state") == "idle" and p["live"].get("slots")]
        return sorted(idle, key=lambda p: (p["live"]["figures"]["free_cpus"], p["live"]["figures"]["mem_available"]),
                      reverse=True)
    wanted = where.lower()
    named = [p for p in peers if wanted in (p.get("node", "").lower(), peer_name(p).lower())]
    if not named:
        known = ", ".join(f"{peer_name(p)} ({p.get('node')})" for p in peers) or "none found"
        raise LocalhubError(f"No lab peer named '{where}' is on the LAN now (peers: {known}); use --where auto, "
                            "local, or a name from `localhub pool status`.")
    if named[0].get("live") is None:
        raise LocalhubError(f"Peer '{where}' is unreachable: {named[0].get('error')}.")
    return named


async def choose(where: str, ask: dict, here: Target, peers: list[Target], say) -> Target:
    """The target to run on, in order: here (for auto), then the peers as `candidates` ordered them. With auto,
    nothing willing means here after all (and the user is told why); a named peer that declines is an error."""
    if where == "local":
        return here
    reasons = []
    for target in ([here] if where == "auto" else []) + peers:
        offer = await target.offer(ask)
        if offer.accept:
            return target
        if not target.runs_in_hub:
            reasons.append(f"{target.name}: {offer.reason}")
    if where == "auto":
        say("No idle lab peer can take it" + (f" ({'; '.join(reasons)})" if reasons else "")
            + "; running it on this desktop.")
        return here
    raise LocalhubError(f"Peer '{where}' declined the server: {'; '.join(reasons)}.")


class Placement:
    """The daemon's placement service, which the hub's spawner asks (api_hub.py)."""

    def __init__(self, crew: Crew, peers: Callable[[], list[dict]], here: Target | None = None):
        self.crew, self.peers = crew, peers  # peers(): the monitor's live views, as dicts
        self.here = here or ThisDesktop()
        self.travelling: set[str] = set()  # guests whose start is under way
        self.given_up: set[str] = set()  # ... and among them those to stop as soon as they run

    @property
    def ledger(self) -> Ledger:
        return self.crew.ledger

    async def choose(self, user: str, server: str, where: str, ask: dict) -> dict:
        """{"where": "local"} or {"where": node id, "name": peer name}. Called at every start of a server."""
        self.supersede(user, server)
        peers = [] if where == "local" else [LabPeer(v, self.crew) for v in candidates(where, self.peers())]
        target = await choose(where, ask, self.here, peers, self.crew.say)
        if target.runs_in_hub:
            return {"where": "local"}
        return {"where": target.view["node"], "name": target.name}

    def supersede(self, user: str, server: str) -> None:
        """The server starts again (anywhere) while an earlier run is still out: when that run's home comes
        back, it goes beside the current one, never over it. JupyterHub starts only a server it does not count
        as running, so an earlier run still marked running is an orphan (its hub lost track of it): it is
        brought home the same way."""
        for earlier in self.ledger.for_server(user, server):
            if earlier.superseded:
                continue
            orphan = earlier.state not in (RETURNING, LOST)
            self.ledger.update(earlier.guest, superseded=True, **({"state": RETURNING} if orphan else {}))
            self.crew.say(f"{server}: starts again while {'an earlier run' if orphan else 'its earlier home'} is "
                          f"still on {earlier.peer_name}; that home will be restored next to this one when it "
                          "comes back.")

    async def start(self, node: str, request: dict, note) -> Away:
        """Run the server on peer `node` (as `choose` named it). `request` holds guest (its id, made by the caller,
        which can stop it before it runs), user, server, volume, image, ask, env, cmd and hub [address, port];
        `note(message)` hears each step. A server stopped while it travelled is stopped once it runs there (its
        home comes back), and its start fails."""
        view = next((v for v in self.peers() if v.get("node") == node), None)
        if view is None:
            raise LocalhubError(f"Peer {node} is no longer on the LAN.")
        guest = request["guest"]
        self.travelling.add(guest)
        try:
            away = await LabPeer(view, self.crew).run(request, note)
        finally:
            self.travelling.discard(guest)
            given_up = guest in self.given_up
            self.given_up.discard(guest)
        if given_up:
            self.crew.say(f"{away.server or 'the default server'} started on {away.peer_name} after its start was "
                          "given up: stopping it there and bringing its home back.")
            await self.stop(guest)
            raise LocalhubError(f"The start on {away.peer_name} was given up while the server travelled; it was "
                                "stopped there and its home brought back.")
        return away

    def _peer_of(self, guest: str) -> LabPeer | None:
        away = self.ledger.get(guest)
        return LabPeer.of(away, self.crew) if away else None

    async def poll(self, guest: str) -> int | None:
        peer = self._peer_of(guest)
        return 0 if peer is None else await peer.poll(guest)

    async def stop(self, guest: str) -> None:
        if guest in self.travelling:  # the start's deadline passed while it travelled: it is stopped on arrival
            self.given_up.add(guest)
            return
        peer = self._peer_of(guest)
        if peer is not None:
            await peer.stop(guest)

    async def forget(self, user: str, server: str) -> None:
        """A deleted server: peers still holding an earlier home of it are told to drop it (when they answer;
        one that does not keeps it, listed as a stopped guest for its owner), and its ledger entries go."""
        for away in self.ledger.for_server(user, server):
            await LabPeer.of(away, self.crew).forget(away.guest)
