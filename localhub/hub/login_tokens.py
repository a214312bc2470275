"""One-time login tokens: the link `localhub up` prints signs the desktop user in once.

Only a hash of each token is stored (one file per token, in a 0700 directory), so reading the state dir
later does not reveal a usable link. Consuming a token deletes its file; an expired one is refused. A link signs
in during the run of the hub that printed it: the daemon revokes every unused one when it starts (`revoke_all`),
so a link left in a terminal's scrollback or an old log is dead after a restart or a recover.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

DEFAULT_TTL = 24 * 3600


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(directory: Path, ttl: int = DEFAULT_TTL) -> str:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path = directory / _digest(token)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(str(int(time.time()) + ttl))
    return token


def consume(directory: Path, token: str) -> bool:
    """True if the token was valid; it cannot be used again either way."""
    if not token or len(token) > 200:
        return False
    path = directory / _digest(token)
    try:
        expires = int(path.read_text().strip() or 0)
        path.unlink()
    except (OSError, ValueError):
        return False
    return time.time() < expires


def revoke_all(directory: Path) -> int:
    """Make every link issued so far invalid; how many unused ones there were."""
    revoked = 0
    for path in directory.glob("*"):
        try:
            path.unlink()
            revoked += 1
        except OSError:
            continue
    return revoked
