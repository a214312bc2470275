"""The hub's API on the LAN address (pool/hub_door.py), on loopback: over TLS that a guest's server accepts
(JupyterHub's own check: the hub's authority, and the address named in the certificate), bytes relayed both
ways to the hub's address, and a taken port named in one sentence."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
from jupyterhub.utils import make_ssl_context

from localhub.errors import LocalhubError
from localhub.pool.hub_door import HubDoor
from localhub.pool.trust.tls import away_certificates, guest_certificate

pytestmark = pytest.mark.unit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_door_relays_to_the_hub_and_a_taken_port_is_named(tmp_path):
    async def hub(reader, writer):  # answers each request with its bytes reversed
        writer.write((await reader.readline())[::-1])
        await writer.drain()
        writer.close()

    hub_server = await asyncio.start_server(hub, "127.0.0.1", 0)
    certificates = away_certificates(tmp_path, "127.0.0.2")
    door = HubDoor("127.0.0.2", free_port(), ("127.0.0.1", hub_server.sockets[0].getsockname()[1]),
                   certificates.door_context())
    # what a guest's server has: its own key and certificate, and the hub's authority as JUPYTERHUB_SSL_CLIENT_CA
    key, cert = guest_certificate("0" * 16)
    (tmp_path / "g.key").write_bytes(key)
    (tmp_path / "g.crt").write_bytes(cert)
    (tmp_path / "ca.crt").write_bytes(certificates.ca_pem)
    as_a_guest = make_ssl_context(str(tmp_path / "g.key"), str(tmp_path / "g.crt"), cafile=str(tmp_path / "ca.crt"))
    await door.start()
    try:
        reader, writer = await asyncio.open_connection(door.address, door.port, ssl=as_a_guest,
                                                       server_hostname=door.address)
        writer.write(b"GET /hub/api\n")
        await writer.drain()
        assert await reader.read() == b"\nipa/buh/ TEG"
        writer.close()
        with pytest.raises(ssl.SSLCertVerificationError):  # a client without the hub's authority trusts no door
            await asyncio.open_connection(door.address, door.port, ssl=ssl.create_default_context(),
                                          server_hostname=door.address)
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):  # nor one of another address
            await asyncio.open_connection(door.address, door.port, ssl=as_a_guest, server_hostname="127.0.0.3")
        with pytest.raises(LocalhubError, match=f"port {door.port} on 127.0.0.2 .this hub's API for its servers on "
                                                "lab peers. is already in use by another program"):
            await HubDoor(door.address, door.port, door.hub, None).start()
    finally:
        await door.stop()
        hub_server.close()
