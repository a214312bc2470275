"""This hub's API on the LAN address, for its servers on lab peers, and on no other address.

JupyterHub binds its API on the hub's own Docker gateway, where local servers reach it. A server placed on a
peer reaches it at this desktop's LAN address instead: the daemon listens there (one address, the hub API's
port) and relays each connection to the gateway, byte for byte. Nothing listens on every interface, so another
JupyterHub on the desktop or another hub in the lab never clashes with it, and nothing is opened to networks
the pool does not use (the agent, pool/host/agent.py, stays the only door for requests of peers).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging

from ..errors import LocalhubError

log = logging.getLogger("localhub.pool.hub_door")


class HubDoor:
    def __init__(self, address: str, port: int, hub: tuple[str, int]):
        self.address, self.port, self.hub = address, port, hub
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        try:
            self.server = await asyncio.start_server(self._relay, self.address, self.port)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise LocalhubError(f"port {self.port} on {self.address} (this hub's API for its servers on lab "
                                    "peers) is already in use by another program; start the hub on another "
                                    "block of ports with --port") from None
            raise LocalhubError(f"cannot listen on {self.address}:{self.port} for this hub's API ({err.strerror})"
                                ) from None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hub_reader, hub_writer = await asyncio.open_connection(*self.hub)
        except OSError as err:
            log.info("a server on a peer asked for the hub's API, which does not answer (%s)", err.strerror)
            writer.close()
            return
        await asyncio.gather(_pipe(reader, hub_writer), _pipe(hub_reader, writer))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
