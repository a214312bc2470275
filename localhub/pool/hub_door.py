"""This hub's API on the LAN address, for its servers on lab peers, and on no other address.

JupyterHub binds its API on the hub's own Docker gateway, where local servers reach it. A server placed on a
peer reaches it at this desktop's LAN address instead: the daemon listens there (one address, the hub API's
port), over TLS with the certificate the hub's authority signed for that address (trust/tls.py; the servers
check it), and relays each connection to the gateway, byte for byte: the servers' tokens never cross the LAN
in clear. Nothing listens on every interface, so another
JupyterHub on the desktop or another hub in the lab never clashes with it, and nothing is opened to networks
the pool does not use (the agent, pool/host/agent.py, stays the only door for requests of peers).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import ssl

from ..errors import LocalhubError

log = logging.getLogger("localhub.pool.hub_door")


class HubDoor:
    def __init__(self, address: str, port: int, hub: tuple[str, int], context: ssl.SSLContext | None):
        self.address, self.port, self.hub, self.context = address, port, hub, context
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        try:
            self.server = await asyncio.start_server(self._relay, self.address, self.port, ssl=self.context,
                                                     ssl_handshake_timeout=20 if self.context else None)
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
        await asyncio.gather(pipe(reader, hub_writer), pipe(hub_reader, writer))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction of a connection until it ends, then close the other side."""
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError, ssl.SSLError):
        pass
    finally:
        writer.close()
