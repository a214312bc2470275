"""The hub's TLS tunnels to its servers on peers (pool/away/tunnel.py), on loopback, against a server set up
the way a guest's Jupyter server is (its own certificate; callers must present one the hub's authority signed):
bytes pass both ways through the pinned tunnel; a server presenting another certificate gets no byte; a caller
without the hub's certificate is turned away by the server itself."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from localhub.pool.away.tunnel import Tunnels
from localhub.pool.trust.tls import away_certificates, guest_certificate, pem_fingerprint

pytestmark = pytest.mark.unit


async def guest_server(tmp_path, ca_pem: bytes):
    """A TLS echo server configured as Jupyter Server is with JUPYTERHUB_SSL_*: returns (server, port, cert
    fingerprint, what it received)."""
    key, cert = guest_certificate("0" * 16)
    for name, data in (("g.key", key), ("g.crt", cert), ("ca.crt", ca_pem)):
        (tmp_path / name).write_bytes(data)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "g.crt", tmp_path / "g.key")
    ctx.load_verify_locations(tmp_path / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED  # Jupyter Server's setting when a client CA is given
    received: list[bytes] = []

    async def echo(reader, writer):
        try:
            line = await reader.readline()
            received.append(line)
            writer.write(line.upper())
            await writer.drain()
        except (ssl.SSLError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=ctx)
    return server, server.sockets[0].getsockname()[1], pem_fingerprint(cert), received


async def test_a_tunnel_carries_bytes_to_the_pinned_server_only(tmp_path):
    certificates = away_certificates(tmp_path, "127.0.0.1")
    server, port, fingerprint, received = await guest_server(tmp_path, certificates.ca_pem)
    tunnels = Tunnels(certificates)
    try:
        local = await tunnels.open("a" * 16, "127.0.0.1", port, fingerprint)
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        writer.write(b"get /user/ana/x/api\n")
        await writer.drain()
        assert await reader.read() == b"GET /USER/ANA/X/API\n"
        writer.close()

        wrong = await tunnels.open("b" * 16, "127.0.0.1", port, "0" * 32)  # the peer named another certificate
        reader, writer = await asyncio.open_connection("127.0.0.1", wrong)
        writer.write(b"token=secret\n")
        await writer.drain()
        assert await reader.read() == b""  # closed, and...
        await asyncio.sleep(0.2)
        assert received == [b"get /user/ana/x/api\n", b""]  # ...the server got nothing of it

        with pytest.raises((ssl.SSLError, ConnectionError)):  # no hub certificate: the server refuses the caller
            plain = ssl.create_default_context()
            plain.check_hostname, plain.verify_mode = False, ssl.CERT_NONE
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=plain)
            writer.write(b"hello\n")
            await writer.drain()
            assert await reader.read() == b""
            raise ConnectionError("closed without an answer")

        # reopened after a restart at the port JupyterHub remembers
        await tunnels.close("a" * 16)
        assert await tunnels.open("a" * 16, "127.0.0.1", port, fingerprint, local) == local
    finally:
        await tunnels.close_all()
        server.close()
