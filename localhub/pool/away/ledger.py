"""The ledger of servers away: every server this hub runs (or is sending, or bringing back) on a lab peer.

An entry is made before the first byte leaves and removed once the peer has forgotten the server, so
whatever is interrupted (the hub restarted, the link cut, the peer powered off) is finished from it later
(keeper.py). Only the daemon keeps it: in memory, written through to `<state>/pool/remote.json` (0600) on
every change so that a restarted daemon knows what is still out. Nothing else reads or writes that file.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import LocalhubError
from ...state import write_atomic
from ..trust.keys import pool_dir
from .client import PeerAddress

STARTING, RUNNING, RETURNING, LOST = "starting", "running", "returning", "lost"


@dataclass
class Away:
    """One server that is (or was being sent) away."""

    guest: str
    user: str
    server: str
    volume: str
    image: str
    peer: dict  # PeerAddress fields plus "name"
    state: str = STARTING
    address: str = ""
    port: int = 0
    started: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)  # when the peer last answered about it
    synced: float | None = None  # when the local volume last got the peer's copy of the home
    superseded: bool = False  # the server was started again without it: its home returns beside, not over
    notice: str = ""  # the peer's word on it (paused because the owner is back, …)
    remote_state: str = ""
    cert: str = ""  # fingerprint of the certificate the server presents (its peer named it; tunnel.py pins it)
    tunnel: int = 0  # the loopback port JupyterHub's proxy reaches the server at (tunnel.py)

    @property
    def where(self) -> PeerAddress:
        return PeerAddress(self.peer["node"], self.peer["address"], int(self.peer["port"]), self.peer["cert"])

    @property
    def route(self) -> tuple[str, int]:
        """Where JupyterHub's proxy reaches the server: its tunnel on loopback (tunnel.py)."""
        return ("127.0.0.1", self.tunnel) if self.tunnel else (self.address, self.port)

    @property
    def peer_name(self) -> str:
        return self.peer.get("name") or self.peer["node"]


class Ledger:
    def __init__(self, state_dir: Path):
        self.path = pool_dir(state_dir) / "remote.json"
        self._entries = self._read()

    def _read(self) -> dict[str, Away]:
        try:
            return {e["guest"]: Away(**e) for e in json.loads(self.path.read_text())}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError) as err:
            raise LocalhubError(f"Cannot read {self.path} ({err}); it lists servers running on lab peers, "
                                "so it was left as it is.") from None

    def _write(self) -> None:
        write_atomic(self.path, json.dumps([asdict(e) for e in self._entries.values()], indent=2) + "\n",
                     mode=0o600)

    def all(self) -> list[Away]:
        return list(self._entries.values())

    def get(self, guest: str) -> Away | None:
        return self._entries.get(guest)

    def for_server(self, user: str, server: str) -> list[Away]:
        return [a for a in self._entries.values() if a.user == user and a.server == server]

    def put(self, away: Away) -> None:
        self._entries[away.guest] = away
        self._write()

    def update(self, guest: str, **changes) -> Away | None:
        away = self._entries.get(guest)
        if away is None:
            return None
        for name, value in changes.items():
            setattr(away, name, value)
        self._write()
        return away

    def remove(self, guest: str) -> None:
        if self._entries.pop(guest, None) is not None:
            self._write()
