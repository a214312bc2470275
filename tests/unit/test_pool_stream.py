"""A home coming back as a stream with a signed trailer (pool/away/stream.py): the receiver gets every byte
when the peer's trailer vouches for them, and an error instead of an end for anything else (a byte altered,
a stream cut anywhere, bytes after the trailer, a trailer meant for another request). Also through the real
agent over HTTPS on loopback, with a runner whose engine fails half-way."""

from __future__ import annotations

import contextlib
import os
from types import SimpleNamespace

import pytest

from localhub.pool.away.client import PeerClient, PeerRefused, PeerUnreachable
from localhub.pool.away.stream import StreamBroken, StreamRefused, Unframer, frame, trailer
from localhub.pool.trust.signing import sign_member_response, verify_member_response
from tests.unit.pool_fakes import new_lab
from tests.unit.test_pool_agent import agent  # noqa: F401 - the fixture

pytestmark = pytest.mark.unit

NONCE = "ab" * 16


@pytest.fixture
def members(tmp_path):
    _, (peer, hub) = new_lab(tmp_path, "peer", "hub")
    return peer, hub


def wire(peer, hub, chunks, nonce=NONCE) -> bytes:
    import hashlib

    data = b"".join(chunks)
    signed = sign_member_response(peer, 200, b"", nonce, hub.node, sha=hashlib.sha256(data).hexdigest())
    return b"".join(frame(c) + c for c in chunks if c) + trailer(len(data), signed)


def receive(peer, hub, raw: bytes, pieces: int = 7, nonce=NONCE) -> bytes:
    """What a consumer gets from `raw` arriving in `pieces` uneven parts (boundaries inside heads too)."""
    def verify(sha, signed):
        verify_member_response(hub, 200, signed, b"", nonce, peer.node, sha=sha)

    cuts = sorted({0, len(raw), *(len(raw) * i // pieces + i for i in range(1, pieces))})
    parts = [raw[a:b] for a, b in zip(cuts, cuts[1:])]
    return b"".join(Unframer(verify).unframe(iter(parts)))


def test_a_whole_signed_stream_gives_every_byte(members):
    peer, hub = members
    chunks = [os.urandom(1000), b"", os.urandom(3), os.urandom(70_000)]
    for pieces in (1, 2, 7, 500):
        assert receive(peer, hub, wire(peer, hub, chunks), pieces) == b"".join(chunks)


def test_an_altered_byte_anywhere_in_the_archive_is_refused(members):
    peer, hub = members
    raw = bytearray(wire(peer, hub, [os.urandom(5000), os.urandom(5000)]))
    for at in (4, 2000, 5003, 5008, 10_007):  # first and last bytes of each frame's data, and one within
        altered = bytearray(raw)
        altered[at] ^= 0x01
        with pytest.raises(StreamRefused, match="does not verify"):
            receive(peer, hub, bytes(altered))


def test_a_stream_cut_anywhere_never_ends_well(members):
    peer, hub = members
    raw = wire(peer, hub, [os.urandom(3000), os.urandom(3000)])
    for at in (0, 2, 4, 1000, 3004, 3006, 6008, 6011, len(raw) - 20, len(raw) - 1):
        with pytest.raises((StreamBroken, StreamRefused)):
            receive(peer, hub, raw[:at])


def test_bytes_after_the_trailer_and_trailers_of_other_requests_are_refused(members, tmp_path):
    peer, hub = members
    raw = wire(peer, hub, [os.urandom(100)])
    with pytest.raises(StreamBroken, match="after the trailer"):
        receive(peer, hub, raw + b"\0\0\0\x05hello")
    with pytest.raises(StreamRefused):  # the peer's trailer for another of our requests (a replayed answer)
        receive(peer, hub, wire(peer, hub, [os.urandom(100)], nonce="cd" * 16))
    _, (other, _) = new_lab(tmp_path / "elsewhere", "other", "x")
    with pytest.raises(StreamRefused):  # signed by a desktop of another lab
        receive(peer, hub, wire(other, hub, [os.urandom(100)]))
    with pytest.raises(StreamBroken, match="not a signed home trailer"):
        receive(peer, hub, frame(b"abc") + b"abc" + b"\0\0\0\0" + b"\0\0\0\x02{}")


class Runner:
    """Guests whose homes are the given chunks; `fail_after` chunks, the engine's read fails."""

    def __init__(self, owner: str, chunks: list[bytes], fail_after: int | None = None):
        self.owner, self.chunks, self.fail_after, self.closed = owner, chunks, fail_after, 0

    def get(self, guest_id):
        return SimpleNamespace(id=guest_id, hub_node=self.owner)

    @contextlib.contextmanager
    def home_stream(self, guest):
        def read():
            for i, chunk in enumerate(self.chunks):
                if i == self.fail_after:
                    raise OSError("the engine went away")
                yield chunk
        try:
            yield read()
        finally:
            self.closed += 1


GUEST = "0123456789abcdef"


async def _fetch(caller, peer):
    client = PeerClient(caller)
    context = await client.pinned(peer)

    def run():
        with client.receive_home(peer, f"/pool/v1/guests/{GUEST}/home", context) as (unframer, chunks):
            data = b"".join(chunks)
        return data, unframer

    import asyncio
    return await asyncio.get_running_loop().run_in_executor(None, run)


async def test_the_agent_streams_a_home_its_hub_can_check(agent):  # noqa: F811
    server, peer, caller = agent
    chunks = [os.urandom(1 << 20), os.urandom(12345)]
    server.node.guests = Runner(caller.node, chunks)
    data, unframer = await _fetch(caller, peer)
    assert data == b"".join(chunks) and unframer.size == len(data)
    await _closed(server.node.guests)  # the agent closes the engine's read after the hub has it all


async def _closed(runner, patience: float = 10) -> None:
    import asyncio
    for _ in range(int(patience / 0.05)):
        if runner.closed == 1:
            return
        await asyncio.sleep(0.05)
    assert runner.closed == 1


async def test_an_engine_failing_half_way_reaches_the_hub_as_a_cut_stream(agent):  # noqa: F811
    server, peer, caller = agent
    server.node.guests = Runner(caller.node, [os.urandom(1 << 20)] * 3, fail_after=2)
    with pytest.raises(PeerUnreachable, match="was cut off .*it was not used"):
        await _fetch(caller, peer)
    assert server.node.guests.closed == 1


async def test_only_the_guests_own_hub_gets_its_home(agent):  # noqa: F811
    server, peer, caller = agent
    server.node.guests = Runner(server.third.node, [b"secret"])
    with pytest.raises(PeerRefused, match="belongs to another hub"):
        await _fetch(caller, peer)


async def test_an_agent_that_does_not_switch_protocols_still_sends_a_checked_home(agent, monkeypatch):  # noqa: F811
    """Mixed versions in a lab: an agent that answers 200 (one that does not know the Upgrade) sends the same
    stream as a chunked body, and the hub reads and checks it all the same."""
    import localhub.pool.host.agent_transfers as agent_transfers

    monkeypatch.setattr(agent_transfers, "PROTOCOL", "not-this-one")
    server, peer, caller = agent
    chunks = [os.urandom(1 << 20), os.urandom(777)]
    server.node.guests = Runner(caller.node, chunks)
    data, unframer = await _fetch(caller, peer)
    assert data == b"".join(chunks) and unframer.size == len(data)
    server.node.guests = Runner(caller.node, [os.urandom(1 << 20)] * 3, fail_after=2)
    with pytest.raises(PeerUnreachable, match="was cut off"):
        await _fetch(caller, peer)


async def test_a_hub_that_leaves_mid_stream_frees_the_agents_read(agent, caplog):  # noqa: F811
    """The hub stops reading after two pieces (its tar failed, the user pressed Ctrl+C): the agent, blocked in
    a write on the switched connection, ends the stream, closes the engine's read and says so."""
    import asyncio
    import logging

    server, peer, caller = agent
    server.node.guests = runner = Runner(caller.node, [os.urandom(1 << 20)] * 64)  # more than the socket buffers
    client = PeerClient(caller)
    context = await client.pinned(peer)

    def read_two():
        with client.receive_home(peer, f"/pool/v1/guests/{GUEST}/home", context) as (_, chunks):
            for _, _ in zip(range(2), chunks):
                pass

    with caplog.at_level(logging.WARNING, logger="localhub.pool.host.agent"):
        await asyncio.get_running_loop().run_in_executor(None, read_two)
        await _closed(runner)
        assert "went away" in caplog.text and "the guest keeps it" in caplog.text


async def test_a_home_comes_only_from_the_agent_holding_the_pinned_certificate(agent, tmp_path):  # noqa: F811
    """The home's connection checks the agent's certificate against the pin like every other request."""
    import asyncio
    import ssl

    from localhub.pool.trust.tls import ensure_certificate

    server, peer, caller = agent
    server.node.guests = Runner(caller.node, [os.urandom(1000)])
    other, _, _ = ensure_certificate(tmp_path / "other", "other")
    pinned_elsewhere = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    pinned_elsewhere.check_hostname = False
    pinned_elsewhere.load_verify_locations(other)

    def run():
        with PeerClient(caller).receive_home(peer, f"/pool/v1/guests/{GUEST}/home", pinned_elsewhere) as (_, chunks):
            return b"".join(chunks)

    with pytest.raises(PeerUnreachable):
        await asyncio.get_running_loop().run_in_executor(None, run)


async def test_an_agent_stopping_while_a_hub_stalls_mid_stream_lets_go_of_the_home(agent):  # noqa: F811
    """`localhub down` on the peer while its hub has stopped reading (but keeps the connection open): the agent's
    writer does not sit out the link's silence limit; the engine's read is closed and the guest keeps its home."""
    import asyncio
    import threading

    server, peer, caller = agent
    server.node.guests = runner = Runner(caller.node, [os.urandom(1 << 20)] * 64)  # more than the socket buffers
    client = PeerClient(caller)
    context = await client.pinned(peer)
    reading, done = threading.Event(), threading.Event()

    def stall():
        with contextlib.suppress(PeerUnreachable):
            with client.receive_home(peer, f"/pool/v1/guests/{GUEST}/home", context) as (_, chunks):
                next(chunks)
                reading.set()
                done.wait(30)  # reads nothing more meanwhile

    hub = asyncio.get_running_loop().run_in_executor(None, stall)
    try:
        await asyncio.get_running_loop().run_in_executor(None, reading.wait, 10)
        await server.close()
        await _closed(runner)
    finally:
        done.set()
        await hub
