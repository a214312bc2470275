"""The daemon's watch over the servers away: for each ledger entry, note how the server is (paused, …) so its
user learns it within seconds, bring home at once a server its peer stopped, sync a running server's home
every `sync_every` seconds, and bring home those left returning or lost once their peer answers again.

A peer that does not answer is asked again with a growing back-off (tenacity): every few seconds at first,
every few minutes for a peer gone for days.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from .client import PeerError
from .ledger import LOST, RETURNING, RUNNING
from .peer import Crew, LabPeer

log = logging.getLogger("localhub.pool.away.keeper")


class Keeper:
    def __init__(self, crew: Crew, every: float = 5.0, longest_wait: float = 300.0):
        self.crew, self.every, self.longest_wait = crew, every, longest_wait
        self._task: asyncio.Task | None = None
        self._watches: dict[str, asyncio.Task] = {}  # guest id -> its watch

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        for task in [self._task, *self._watches.values()]:
            if task:
                task.cancel()

    async def _loop(self) -> None:
        """Every entry of the ledger gets a watch (new entries within `every` seconds)."""
        while True:
            await asyncio.sleep(self.every)
            for away in self.crew.ledger.all():
                if away.guest not in self._watches:
                    self._watches[away.guest] = asyncio.ensure_future(self._watch(away.guest))

    async def _watch(self, guest: str) -> None:
        try:
            while self.crew.ledger.get(guest) is not None:
                try:
                    async for attempt in AsyncRetrying(
                            retry=retry_if_exception_type(PeerError), reraise=True,
                            wait=wait_exponential(multiplier=self.every, max=self.longest_wait),
                            before_sleep=lambda state: self._tried(guest, state)):
                        with attempt:
                            await self.tend(guest)
                except Exception:  # one bad turn must not end the watch; the next one tries again
                    log.exception("looking after a server on a peer failed")
                await asyncio.sleep(self.every)
        finally:
            self._watches.pop(guest, None)

    def _tried(self, guest: str, state) -> None:
        away = self.crew.ledger.get(guest)
        if away is not None:
            log.info("%s on %s: %s (tried again in %.0f s)", away.server, away.peer_name,
                     state.outcome.exception(), state.next_action.sleep)

    async def tend(self, guest: str) -> None:
        """One look at one server away."""
        away = self.crew.ledger.get(guest)
        if away is None:
            return
        peer = LabPeer.of(away, self.crew)
        if away.state in (RETURNING, LOST):
            await peer.bring_home(guest)
        elif away.state == RUNNING:
            # a paused server's user learns it within seconds, and a server its peer stopped (the owner came
            # back, or shut localhub down) comes home at once: that peer waits for its home to be taken
            if await peer.poll(guest) is not None:
                return
            if time.time() - (away.synced or 0) >= self.crew.sync_every:
                await peer.sync(guest)
