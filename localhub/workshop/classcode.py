"""A class: who is in it (whoever knows its code) and this machine's part in it.

The teacher's `localhub class serve` makes a code of 16 characters (Crockford's base32 in four groups, 80
random bits), short enough for a whiteboard. Every member derives the class key from it with scrypt, so
a code overheard later is not enough to forge a request made before, and guessing codes offline costs
scrypt per guess. The key then does what a lab key does in the pool (pool/trust): it signs every request
and answer between laptops and tags their mDNS records, so only laptops that know the code see each other
or fetch anything.

`<state>/workshop/class.json` (0600) holds the membership: key, code, role, the participant's name, and
for the teacher the links offered.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import LocalhubError, shown
from ..pool.trust.keys import ALPHABET, Lab, node_id

GROUPS, GROUP_LEN = 4, 4
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
_SALT = b"localhub-class-v1"


def new_code() -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LEN))
    return "-".join(chars[i:i + GROUP_LEN] for i in range(0, len(chars), GROUP_LEN))


def normalise(code: str) -> str:
    """The code as written by `new_code`, from however it was typed; one sentence if it cannot be one."""
    text = re.sub(r"[\s\-]+", "", code.strip().upper()).translate(_LOOKALIKES)
    bad = [ch for ch in text if ch not in ALPHABET]
    if bad:
        raise LocalhubError(f"A class code has no '{shown(bad[0])}'; codes are letters and digits like "
                            "K7Q4-M2PX-9DRT-H8WC (ask the teacher to show it again: `localhub class status`).")
    if len(text) != GROUPS * GROUP_LEN:
        raise LocalhubError(f"A class code has {GROUPS * GROUP_LEN} letters and digits (like K7Q4-M2PX-9DRT-H8WC); "
                            f"this one has {len(text)}.")
    return "-".join(text[i:i + GROUP_LEN] for i in range(0, len(text), GROUP_LEN))


def class_key(code: str) -> bytes:
    return hashlib.scrypt(normalise(code).encode(), salt=_SALT, n=1 << 14, r=8, p=1, dklen=32)


@dataclass
class Membership:
    key: str  # hex
    code: str
    role: str  # "teacher" or "participant"
    name: str  # how this laptop shows to the class
    since: float = field(default_factory=time.time)
    offers: list[str] = field(default_factory=list)  # teacher: the links offered (empty: every environment)

    def lab(self, state_dir: Path) -> Lab:
        """The class as the pool's trust code knows a lab: its key, and this machine's node id."""
        return Lab(key=bytes.fromhex(self.key), node=node_id(state_dir))


def membership_path(state_dir: Path) -> Path:
    return Path(state_dir) / "workshop" / "class.json"


def load_membership(state_dir: Path) -> Membership | None:
    try:
        data = json.loads(membership_path(state_dir).read_text())
        return Membership(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as err:
        raise LocalhubError(f"The class membership {membership_path(state_dir)} is damaged ({err}); leave and "
                            "join again: `localhub class leave`, then `localhub class join CODE`.") from None


def save_membership(state_dir: Path, membership: Membership) -> None:
    path = membership_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".class.json.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(membership), out, indent=1)
    os.replace(tmp, path)


def leave(state_dir: Path) -> bool:
    path = membership_path(state_dir)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def participant_name(text: str) -> str:
    """A participant's name as it labels their hand-ins: letters, digits, spaces, . _ - (1-40)."""
    name = re.sub(r"\s+", " ", text.strip())
    if not re.fullmatch(r"[\w .\-]{1,40}", name):
        raise LocalhubError(f"'{shown(text)}' is not a usable name: 1 to 40 letters, digits, spaces, '.', '_' or "
                            "'-'.")
    return name
