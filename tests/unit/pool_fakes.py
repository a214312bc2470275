"""Reusable fakes for the pool's decisions (in the manner of JupyterHub's tests/mocking.py): a peer's agent
that answers from a script, transfers that move nothing, and a crew built from them around a real ledger.
The engine suite (tests/lan) proves the same code against real agents and engines."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

from localhub.pool.away.archives import Archive
from localhub.pool.away.client import PeerUnreachable
from localhub.pool.away.ledger import Away, Ledger
from localhub.pool.away.peer import Crew

PEER = {"node": "b" * 16, "address": "10.0.0.3", "port": 8470, "cert": "c" * 32, "name": "bob._localhub._tcp.local."}


class FakeAgents:
    """Answers agent requests by (method, path prefix) from `answers`; an exception as answer is raised.
    Every request is recorded in `calls` as (peer node, method, path, data)."""

    def __init__(self, answers: dict | None = None, offers: dict | None = None):
        self.answers = answers or {}
        self.offers = offers or {}  # node -> {"accept", "reason"} or an exception
        self.calls: list[tuple] = []

    async def offer(self, peer, ask):
        self.calls.append((peer.node, "OFFER", "", ask))
        answer = self.offers.get(peer.node, PeerUnreachable(f"The agent of peer {peer.node} is unreachable."))
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def request(self, peer, method, path, data=None, patience=None):
        self.calls.append((peer.node, method, path, data))
        for (m, prefix), answer in self.answers.items():
            if m == method and path.startswith(prefix):
                if isinstance(answer, Exception):
                    raise answer
                return answer(data) if callable(answer) else answer
        raise AssertionError(f"unexpected agent request {method} {path}")


class FakeTransfer:
    """Moves nothing: records what would travel; `volumes_in_use` says which local volumes a container uses."""

    def __init__(self):
        self.moves: list[tuple] = []
        self.volumes_in_use: set[str] = set()
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def in_use(self, volume):
        return volume in self.volumes_in_use

    async def send_image(self, peer, image, note):
        self.moves.append(("image", peer.node, image))
        note("Image sent and loaded in 0.1 s.")
        return "sha256:" + "1" * 64

    async def send_home(self, peer, guest, volume, image, note):
        self.moves.append(("home out", peer.node, volume))

    async def fetch_home(self, peer, guest, volume, image, labels):
        self.moves.append(("home back", peer.node, volume))
        return Archive(Path("/dev/null"), 1_000_000, "0" * 64, 0.1)


def crew(tmp_path, agents: FakeAgents | None = None, lost_after: float = 60.0) -> Crew:
    said: list[str] = []
    made = Crew(agents or FakeAgents(), Ledger(tmp_path), FakeTransfer(), say=said.append, lost_after=lost_after)
    made.said = said
    return made


def away(guest="0" * 16, state="running", server="x", **fields) -> Away:
    return Away(guest=guest, user="ana", server=server, volume=f"vol-{server}", image="img", peer={**PEER, "name": "bob"},
                state=state, **fields)


def view(name, state="idle", slots=1, cpus=1.0, mem=4 * 10**9, live=True, node=None):
    """A peer as the monitor lists it (PeerView.to_dict())."""
    figures = {"free_cpus": cpus, "mem_available": mem}
    return {"name": f"{name}._localhub._tcp.local.", "node": node or name[:1] * 16, "address": "10.0.0.9",
            "port": 8470, "cert": "c" * 32, "live": {"state": state, "slots": slots, "figures": figures} if live
            else None, "error": None if live else "did not answer"}


def new_lab(root: Path, *names: str):
    """A lab whose members are state dirs under `root` (the first holds the authority), made as `pool init`
    and pairing make them: (authority, [Membership per name])."""
    from localhub.pool.trust.keys import node_id
    from localhub.pool.trust.members import Authority, load_membership, node_public_key, save_membership, start_lab

    start_lab(root / names[0])
    authority = Authority.load(root / names[0])
    for name in names[1:]:
        public, cert = node_public_key(root / name)
        made = authority.card(node_id(root / name), public, cert)
        save_membership(root / name, authority.public, made["card"], made["tag"])
    return authority, [load_membership(root / name) for name in names]
