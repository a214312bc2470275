"""This node's id, peer pins, and the shared-key group (`Lab`) that a workshop's class uses.

Each desktop has a random node id and its own TLS certificate (tls.py); peers are pinned trust on first use:
the first certificate seen for a node id is the only one accepted later (`peers.json`). A lab of the pool
gives each desktop its own identity (members.py); `Lab` is a group whose members share one 32-byte key (HMAC,
signing.py's first half), which suits a class of laptops handed one code by its teacher.

Layout under `<state>/pool/` (directory 0700):
    node.json    this desktop's node id
    peers.json   pins: node id -> certificate fingerprint, lab fingerprint, when first and last seen
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import LocalhubError
from ...state import write_atomic

KEY_BYTES = 32
# Crockford's base32: no I, L, O or U, so a code survives being read aloud and retyped.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def pool_dir(state_dir: Path) -> Path:
    path = Path(state_dir) / "pool"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def membership_path(state_dir: Path) -> Path:
    """This desktop's member card (members.py); here, so that asking whether it is in a lab loads no crypto."""
    return pool_dir(state_dir) / "membership.json"


def in_a_lab(state_dir: Path) -> bool:
    return membership_path(state_dir).exists()


def fingerprint(key: bytes) -> str:
    """The lab's public name: 16 hex digits, from a hash that cannot be confused with any HMAC we send."""
    return hashlib.sha256(b"localhub-lab-fingerprint-v1\0" + key).hexdigest()[:16]


# --- a group sharing one key, and this desktop's id -------------------------------------------------

@dataclass(frozen=True)
class Lab:
    """A group sharing one key (a workshop's class), and our own node id in it."""

    key: bytes
    node: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


def node_id(state_dir: Path) -> str:
    """This desktop's node id (16 hex digits), made once and kept."""
    path = pool_dir(state_dir) / "node.json"
    try:
        node = json.loads(path.read_text())["node"]
        if re.fullmatch(r"[0-9a-f]{16}", node):
            return node
    except (OSError, ValueError, KeyError, TypeError):
        pass
    node = secrets.token_hex(8)
    write_atomic(path, json.dumps({"node": node}) + "\n")
    return node


# --- pins (trust on first use) ---------------------------------------------------------------------

class PinMismatch(LocalhubError):
    """A known node presented another certificate than the one first seen."""


class PeerPins:
    """`peers.json`: the certificate first seen for each node id of our lab; later ones must match."""

    def __init__(self, state_dir: Path):
        self.path = pool_dir(state_dir) / "peers.json"

    def load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def check(self, node: str, lab_fp: str, cert_fp: str, **seen) -> bool:
        """Pin on first sight (returns True); a match returns False; another certificate raises PinMismatch."""
        pins = self.load()
        pin = pins.get(node)
        now = round(time.time())
        if pin and (pin.get("cert") != cert_fp or pin.get("lab") != lab_fp):
            raise PinMismatch(
                f"Peer {node} now presents certificate {cert_fp[:12]}… but was first seen with "
                f"{str(pin.get('cert'))[:12]}…; if that desktop was reinstalled, run "
                f"`localhub pool forget {node}` and it is trusted again at its next announcement.")
        first = pin is None
        pins[node] = {**(pin or {"first_seen": now}), "cert": cert_fp, "lab": lab_fp, "last_seen": now, **seen}
        if first or now - int((pin or {}).get("last_seen", 0)) > 60:  # keep writes rare
            write_atomic(self.path, json.dumps(pins, indent=2) + "\n", mode=0o600)
        return first

    def forget(self, node: str) -> bool:
        pins = self.load()
        if pins.pop(node, None) is None:
            return False
        write_atomic(self.path, json.dumps(pins, indent=2) + "\n", mode=0o600)
        return True

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
