"""The hub's API on the LAN address (pool/hub_door.py), on loopback: bytes relayed both ways to the hub's
address, and a taken port named in one sentence."""

from __future__ import annotations

import asyncio
import socket

import pytest

from localhub.errors import LocalhubError
from localhub.pool.hub_door import HubDoor

pytestmark = pytest.mark.unit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_door_relays_to_the_hub_and_a_taken_port_is_named():
    async def hub(reader, writer):  # answers each request with its bytes reversed
        writer.write((await reader.readline())[::-1])
        await writer.drain()
        writer.close()

    hub_server = await asyncio.start_server(hub, "127.0.0.1", 0)
    door = HubDoor("127.0.0.2", free_port(), ("127.0.0.1", hub_server.sockets[0].getsockname()[1]))
    await door.start()
    try:
        reader, writer = await asyncio.open_connection(door.address, door.port)
        writer.write(b"GET /hub/api\n")
        await writer.drain()
        assert await reader.read() == b"\nipa/buh/ TEG"
        writer.close()
        with pytest.raises(LocalhubError, match=f"port {door.port} on 127.0.0.2 .this hub's API for its servers on "
                                                "lab peers. is already in use by another program"):
            await HubDoor(door.address, door.port, door.hub).start()
    finally:
        await door.stop()
        hub_server.close()
