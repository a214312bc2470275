"""One-time login tokens: the link `localhub up` prints signs the desktop user in once.

Only a hash of each token is stored (one file per token, in a 0700 directory), so reading the state dir
later does not reveal a usable link. Consuming a token deletes its file; an expired one is refused.
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


def purge_expired(directory: Path) -> None:
    now = time.time()
    for path in directory.glob("*"):
        try:
            if int(path.read_text().strip() or 0) < now:
                path.unlink()
        except (OSError, ValueError):
            continue
