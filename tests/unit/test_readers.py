"""A followed log is read without holding anyone: shutdown never waits on a reader (readers.py)."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from localhub.readers import Readers

pytestmark = pytest.mark.unit


class SocketStream:
    """Like the Docker SDK's log stream: iterating blocks in recv while the other end is quiet."""

    def __init__(self, sock: socket.socket, wakes_on_close: bool = True):
        self.sock = sock
        self.wakes_on_close = wakes_on_close

    def __iter__(self):
        while chunk := self.sock.recv(1024):
            yield chunk

    def close(self):
        if self.wakes_on_close:  # as docker's CancellableStream does
            self.sock.shutdown(socket.SHUT_RDWR)


async def follow(readers: Readers, stream, got: list, idle: float | None = None) -> None:
    with readers.open(stream) as reader:
        async for chunk in reader.chunks(idle=idle):
            got.append(chunk)


async def until(condition) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


@pytest.mark.parametrize("wakes_on_close", [True, False])
def test_closing_the_readers_ends_a_quiet_follow_and_nothing_waits_on_its_thread(wakes_on_close):
    ours, container = socket.socketpair()
    got: list = []
    before = set(threading.enumerate())

    async def daemon():
        readers = Readers()
        task = asyncio.create_task(follow(readers, SocketStream(ours, wakes_on_close), got, idle=0.05))
        container.send(b"started\n")
        await until(lambda: b"started\n" in got)
        await until(lambda: b"\n" in got)  # quiet: keep-alives
        readers.close_all()  # what the daemon does when it shuts down
        await asyncio.wait_for(task, 5)

    asyncio.run(daemon())  # returns although a thread may still sit in recv
    assert got[0] == b"started\n"
    (thread,) = [t for t in threading.enumerate() if t not in before and t.name == "reader"] or [None]
    if wakes_on_close and thread is not None:
        thread.join(5)
        assert not thread.is_alive(), "closing the stream did not end its reader"
    container.close()
    ours.close()


def test_every_chunk_arrives_in_order_and_the_end_of_the_stream_ends_the_iteration():
    ours, container = socket.socketpair()
    got: list = []

    def write():
        for i in range(2000):  # far more than the read-ahead window
            container.sendall(f"{i}\n".encode())
        container.shutdown(socket.SHUT_WR)

    async def daemon():
        threading.Thread(target=write).start()
        await asyncio.wait_for(follow(Readers(), SocketStream(ours), got), 30)

    asyncio.run(daemon())
    assert b"".join(got).decode().split() == [str(i) for i in range(2000)]
    container.close()
    ours.close()
