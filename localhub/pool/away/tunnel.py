"""The hub's way to its servers on peers: one TLS tunnel per server, so nothing it says to them (notebooks,
outputs, tokens) crosses the LAN in clear.

JupyterHub's proxy routes a server on a peer to this desktop's loopback, where the daemon listens on a port of
that server's own; every connection made there is carried over TLS to the guest's server on the peer. The
hub presents the certificate its authority signed for it (the guest's server accepts no other caller) and
checks, before a byte of the request leaves, that the guest presents the very certificate its peer named in
its signed answer to the run request. A tunnel's port is kept in the ledger, so a restarted daemon opens it
again where JupyterHub, which remembers the server's address, expects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from ..hub_door import pipe
from ..trust.tls import AwayCertificates, cert_fingerprint

log = logging.getLogger("localhub.pool.away.tunnel")

LOOPBACK = "127.0.0.1"
CONNECT_TIMEOUT = 10.0


class Tunnels:
    def __init__(self, certificates: AwayCertificates):
        self.context = certificates.caller_context()
        self.servers: dict[str, asyncio.AbstractServer] = {}  # guest id -> its listener

    def port(self, guest: str) -> int | None:
        server = self.servers.get(guest)
        return server.sockets[0].getsockname()[1] if server else None

    async def open(self, guest: str, address: str, port: int, cert: str, local_port: int = 0) -> int:
        """Listen on loopback for `guest` (at `local_port` if it is free, else any); returns the port."""
        if guest in self.servers:
            return self.port(guest)

        async def carry(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                far_reader, far_writer = await asyncio.wait_for(
                    asyncio.open_connection(address, port, ssl=self.context, server_hostname=None), CONNECT_TIMEOUT)
            except (OSError, ssl.SSLError, asyncio.TimeoutError) as err:
                log.debug("server %s on %s:%s does not answer yet (%s)", guest, address, port, err)
                writer.close()
                return
            found = cert_fingerprint(far_writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
            if found != cert:
                log.warning("the server at %s:%s presents certificate %s…, not the %s… its peer named; nothing "
                            "was sent to it", address, port, found[:12], cert[:12])
                far_writer.close()
                writer.close()
                return
            await asyncio.gather(pipe(reader, far_writer), pipe(far_reader, writer))

        try:
            server = await asyncio.start_server(carry, LOOPBACK, local_port)
        except OSError:
            if not local_port:
                raise
            log.info("port %s for server %s is taken now; it gets another", local_port, guest)
            server = await asyncio.start_server(carry, LOOPBACK, 0)
        self.servers[guest] = server
        return self.port(guest)

    async def close(self, guest: str) -> None:
        server = self.servers.pop(guest, None)
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def close_all(self) -> None:
        for guest in list(self.servers):
            await self.close(guest)

