"""The guarded HTTP server (localhub/hub/limits.py): at its connection cap, the connections that waited
longest without a complete request make room, so a real request still gets in; a body over the cap is
refused from its Content-Length."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient

from localhub.hub import limits

pytestmark = pytest.mark.unit


class Hello(web.RequestHandler):
    def get(self):
        self.write("hello")

    def post(self):
        self.write(str(len(self.request.body)))


async def serve(max_connections: int):
    server = limits.GuardedHTTPServer(web.Application([(r"/", Hello)]), max_connections=max_connections,
                                      max_body_size=1000, idle_connection_timeout=30)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server.add_sockets([sock])
    return server, sock.getsockname()[1]


async def test_half_sent_requests_make_room_for_a_real_one():
    server, port = await serve(max_connections=20)
    slow = []
    for _ in range(60):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        slow.append(writer)
    await asyncio.sleep(0.3)
    assert len(server._connections) <= 20
    answer = await AsyncHTTPClient(force_instance=True).fetch(f"http://127.0.0.1:{port}/", request_timeout=5)
    assert answer.body == b"hello"
    for writer in slow:
        writer.close()
    server.stop()


async def test_a_body_over_the_cap_is_refused_and_a_small_one_taken():
    server, port = await serve(max_connections=20)
    client = AsyncHTTPClient(force_instance=True)
    small = await client.fetch(f"http://127.0.0.1:{port}/", method="POST", body=b"x" * 999)
    assert small.body == b"999"
    big = await client.fetch(f"http://127.0.0.1:{port}/", method="POST", body=b"x" * 5000, raise_error=False)
    assert big.code != 200
    server.stop()


def test_the_descriptor_limit_is_raised_to_the_hard_limit():
    import resource

    soft, hard = limits.raise_descriptor_limit()
    assert soft == min(hard, limits.DESCRIPTOR_CEILING) or hard == resource.RLIM_INFINITY
