"""A guest's record: its state, what it was granted, where it serves; kept in `<state>/pool/guests.json`
(guests.py tells a guest's life)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import LocalhubError
from ..trust.keys import pool_dir

RUNNING, PAUSED, EVICTED, STOPPED = "running", "paused", "evicted", "stopped"


@dataclass
class Guest:
    id: str
    hub_node: str  # the lab node that asked
    server: str  # "user/server" at its hub, for people reading logs and status
    image: str
    cpus: float
    memory: int
    storage: int
    hub: tuple[str, int]  # the hub's API address and port, the one LAN destination the guest may reach
    address: str = ""
    port: int = 0
    state: str = RUNNING
    since: float = field(default_factory=time.time)  # when the state last changed
    paused_at: float | None = None
    notice: str = ""  # what the guest's user should be told
    cert: str = ""  # fingerprint of the certificate its server presents (its hub pins it)

    @property
    def container(self) -> str:
        return f"localhub-guest-{self.id}"

    @property
    def volume(self) -> str:
        return f"localhub-guest-{self.id}-home"

    def to_dict(self) -> dict:
        return {**asdict(self), "hub": list(self.hub)}


def recorded(state_dir: Path) -> dict[str, Guest]:
    """The guests this desktop holds, as recorded in `<state>/pool/guests.json` (their homes included)."""
    path = pool_dir(Path(state_dir)) / "guests.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise LocalhubError(f"Cannot read the guest records {path} ({err}); its guests' homes are "
                            "still in Docker volumes named localhub-guest-*-home.") from None
    return {g["id"]: Guest(**{**g, "hub": tuple(g["hub"])}) for g in raw}
