"""Lab membership: the shared lab key, the pairing code that carries it, this node's id, and peer pins.

A lab is the set of desktops holding the same 32-byte key. The key authenticates every agent request and
response (HMAC, see auth.py); its fingerprint is public (advertised over mDNS) and only says which lab a peer
claims. Each desktop also has a random node id and its own TLS certificate (tls.py); peers are pinned trust
on first use: the first certificate seen for a node id is the only one accepted later (`peers.json`).

Layout under `<state>/pool/` (directory 0700):
    lab.key      0600, the key in hex
    node.json    this desktop's node id
    peers.json   pins: node id -> certificate fingerprint, lab fingerprint, when first and last seen
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import LocalhubError
from ...state import write_atomic

KEY_BYTES = 32
# Crockford's base32: no I, L, O or U, so the code survives being read aloud and retyped.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_DATA = 8, 7  # 8 groups of 7 data characters + 1 check character = 64 characters
_CHECK_BYTES = 3  # a whole-code check after the key: catches what the per-group checks miss
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def pool_dir(state_dir: Path) -> Path:
    path = Path(state_dir) / "pool"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def fingerprint(key: bytes) -> str:
    """The lab's public name: 16 hex digits, from a hash that cannot be confused with any HMAC we send."""
    return hashlib.sha256(b"localhub-lab-fingerprint-v1\0" + key).hexdigest()[:16]


# --- the pairing code ------------------------------------------------------------------------------

def _check_char(group_index: int, chars: str) -> str:
    """Luhn mod 32 over the group's position and its characters: any one wrong character, most swaps of two
    neighbours, and a whole group typed in the wrong place are caught."""
    factor, total = 2, 0
    for ch in reversed(ALPHABET[group_index] + chars):
        addend = factor * ALPHABET.index(ch)
        factor = 3 - factor
        total += addend // 32 + addend % 32
    return ALPHABET[(32 - total % 32) % 32]


def _whole_check(key: bytes) -> bytes:
    return hashlib.sha256(b"localhub-pairing-v1\0" + key).digest()[:_CHECK_BYTES]


def pairing_code(key: bytes) -> str:
    """The code `localhub pool join` takes: 8 dash-separated groups of 8 (the key's 256 bits need 52
    characters; the rest are checks)."""
    if len(key) != KEY_BYTES:
        raise ValueError("a lab key has 32 bytes")
    number = int.from_bytes(key + _whole_check(key), "big")
    data = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(GROUPS * GROUP_DATA)))
    groups = [data[i * GROUP_DATA:(i + 1) * GROUP_DATA] for i in range(GROUPS)]
    return "-".join(g + _check_char(i, g) for i, g in enumerate(groups))


def parse_pairing_code(code: str) -> bytes:
    """The key a pairing code carries, or one sentence saying which group to look at again."""
    hint = "compare it with what `localhub pool init` printed on the first desktop"
    text = code.strip().upper().translate(_LOOKALIKES)
    written = [g for g in re.split(r"[\s\-]+", text) if g]
    if len(written) == GROUPS:  # typed with separators: a wrong group length names that group
        for i, group in enumerate(written, 1):
            if len(group) != GROUP_DATA + 1:
                raise LocalhubError(f"Group {i} of the pairing code has {len(group)} characters, not "
                                    f"{GROUP_DATA + 1}; {hint}.")
    flat = "".join(written)
    for i, ch in enumerate(flat):
        if ch not in ALPHABET:
            raise LocalhubError(f"The pairing code has '{ch}' in group {i // (GROUP_DATA + 1) + 1}, a character "
                                f"codes never contain; {hint}.")
    if len(flat) != GROUPS * (GROUP_DATA + 1):
        raise LocalhubError(f"The pairing code has {len(flat)} letters and digits but needs "
                            f"{GROUPS * (GROUP_DATA + 1)} ({GROUPS} groups of {GROUP_DATA + 1}); {hint}.")
    groups = [flat[i * 8:(i + 1) * 8] for i in range(GROUPS)]
    bad = [i + 1 for i, g in enumerate(groups) if _check_char(i, g[:-1]) != g[-1]]
    if bad:
        where = f"group {bad[0]}" if len(bad) == 1 else "groups " + ", ".join(map(str, bad))
        raise LocalhubError(f"The pairing code has a typo in {where}; {hint}.")
    number = 0
    for ch in "".join(g[:-1] for g in groups):
        number = number << 5 | ALPHABET.index(ch)
    raw = number.to_bytes(KEY_BYTES + _CHECK_BYTES, "big")
    key, check = raw[:KEY_BYTES], raw[KEY_BYTES:]
    if not hmac.compare_digest(check, _whole_check(key)):
        raise LocalhubError(f"The pairing code has typos that its group checks missed (two in one group?); {hint}.")
    return key


# --- this desktop's membership ---------------------------------------------------------------------

@dataclass(frozen=True)
class Lab:
    """What this desktop knows about its lab: the key and our own node id."""

    key: bytes
    node: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


def key_path(state_dir: Path) -> Path:
    return pool_dir(state_dir) / "lab.key"


def store_key(state_dir: Path, key: bytes) -> None:
    path = key_path(state_dir)
    tmp = path.with_name(f".lab.key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    os.replace(tmp, path)


def read_key(state_dir: Path) -> bytes | None:
    path = key_path(state_dir)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise LocalhubError(f"Cannot read the lab key {path} ({err.strerror}); check its permissions.") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise LocalhubError(f"The lab key {path} is damaged; join the lab again with `localhub pool join CODE`.")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # someone loosened it; the key must never be readable by others
    return key


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


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


def load_lab(state_dir: Path) -> Lab:
    key = read_key(state_dir)
    if key is None:
        raise LocalhubError("This desktop is in no lab yet: run `localhub pool init` to start one, or "
                            "`localhub pool join CODE` with the code from a desktop already in it.")
    return Lab(key=key, node=node_id(state_dir))


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
