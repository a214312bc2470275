"""The TUI's one door to the daemon: a `localhub.client.Client` made on demand, remade after the hub was
lost, and asked whether it offers a feature yet.

Everything here blocks (the client is synchronous httpx): call it from thread workers only.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from localhub.client import Client
from localhub.errors import LocalhubError, NotRunning

__all__ = ["Connection", "LocalhubError", "NotRunning", "start_command"]


class Connection:
    def __init__(self, state_dir: str | os.PathLike, factory: Callable[[], Any] | None = None):
        self.state_dir = Path(state_dir)
        self.factory = factory or (lambda: Client(self.state_dir))
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The client, connecting first when needed; raises NotRunning when no hub runs."""
        with self._lock:
            if self._client is None:
                self._client = self.factory()
            return self._client

    @property
    def connected(self) -> bool:
        return self._client is not None

    def drop(self) -> None:
        """Forget the client: a restarted hub may listen elsewhere, so the next call re-reads its state dir."""
        with self._lock:
            self._client = None

    def offers(self, method: str) -> bool:
        """Whether the hub's client has `method` (launches and environments arrive later than servers)."""
        target = self._client if self._client is not None else Client
        return callable(getattr(target, method, None))


def start_command(state_dir: str | os.PathLike) -> list[str]:
    """`localhub up --detach` for this state dir, run with the interpreter the TUI runs in."""
    return [sys.executable, "-m", "localhub", "up", "--detach", "--state-dir", str(state_dir)]
