"""Limits for every HTTP server localhub runs (the proxy, JupyterHub, the daemon's service), so that
requests from anyone — signed in or not — cannot exhaust memory, descriptors or the disk.

- **Bodies are capped before anyone reads them.** Tornado buffers a request's whole body (up to 100 MB) in
  memory before a handler can refuse it: eight 90 MiB POSTs that got 403 took JupyterHub to 2 GB. Each
  server here refuses a body over its cap from the Content-Length (or as it streams in). The hub's and
  localhub's own pages and APIs take small bodies (HUB_BODY_LIMIT); the proxy streams what goes to a
  single-user server, whose own limit (Jupyter's max_body_size) applies, up to SERVER_BODY_LIMIT.
- **Half-sent requests time out and cannot take every descriptor.** Headers must arrive within
  HEADER_TIMEOUT. Each process raises its descriptor limit to the hard limit, and a server keeps its
  connections under a cap below it: at the cap, the connection that has waited longest without a complete
  request is closed to make room (an idle keep-alive or a slow sender; never a request being answered, a
  stream or a websocket). If the process still runs out (EMFILE), it stops accepting for a moment instead of
  spinning on the error and writing a traceback per attempt.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
import time
from collections import OrderedDict

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

log = logging.getLogger("localhub.limits")

MiB = 2**20
HUB_BODY_LIMIT = 16 * MiB  # JupyterHub's and localhub's own forms and JSON
SERVER_BODY_LIMIT = 1024 * MiB  # streamed to a single-user server, which applies its own (Jupyter: 512 MB)
HEADER_TIMEOUT = 20.0  # seconds for a request's headers (and an idle keep-alive connection)
BODY_TIMEOUT = 600.0  # seconds for a whole body (a large upload on a slow link)
DESCRIPTOR_CEILING = 65536
RESERVED_DESCRIPTORS = 128  # files, the database, the engine, logs
PAUSE_ON_EMFILE = 0.5


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise this process's soft descriptor limit to its hard limit (bounded); return (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, DESCRIPTOR_CEILING) if hard != resource.RLIM_INFINITY else DESCRIPTOR_CEILING
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft, hard


def connection_cap(descriptors_per_connection: int = 2) -> int:
    """How many client connections one server of this process may hold (each may need an upstream one)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, (soft - RESERVED_DESCRIPTORS) // descriptors_per_connection)


class GuardedHTTPServer(HTTPServer):
    """tornado's HTTPServer with a connection cap that evicts the longest-waiting incomplete request, and an
    accept loop that pauses on EMFILE. Made the class `HTTPServer(...)` builds by `guard_http_servers`."""

    max_connections = 0  # 0: from the descriptor limit

    def initialize(self, *args, max_connections: int = 0, **kwargs):
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections or connection_cap()
        # connections waiting for a complete request, longest-waiting first
        self._waiting: OrderedDict[object, None] = OrderedDict()
        self._said = 0.0

    # --- the cap ------------------------------------------------------------------------------
    def handle_stream(self, stream, address) -> None:
        while len(self._connections) >= self.max_connections and self._evict_one():
            pass
        if len(self._connections) >= self.max_connections:
            self._say(f"refusing a connection: {len(self._connections)} are open, all busy")
            stream.close()
            return
        super().handle_stream(stream, address)  # its request loop calls start_request at once

    def _evict_one(self) -> bool:
        if not self._waiting:
            return False
        oldest, _ = self._waiting.popitem(last=False)
        self._say(f"{len(self._connections)} connections open (cap {self.max_connections}): closing those that "
                  "waited longest without sending a complete request")
        oldest.stream.close()
        self._connections.discard(oldest)
        return True

    def start_request(self, server_conn, request_conn):
        # called when the connection starts waiting for its next request (after the previous answer is done)
        self._waiting[server_conn] = None
        self._waiting.move_to_end(server_conn)
        return _Watched(super().start_request(server_conn, request_conn), self, server_conn)

    def on_close(self, server_conn) -> None:
        self._waiting.pop(server_conn, None)
        self._connections.discard(server_conn)

    def _say(self, message: str) -> None:
        now = time.monotonic()
        if now - self._said > 60:  # at most one line a minute, whatever the flood
            self._said = now
            log.warning("%s", message)

    # --- accepting ----------------------------------------------------------------------------
    def add_sockets(self, sockets) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = self._accept_on(sock)

    def _accept_on(self, sock: socket.socket):
        loop = IOLoop.current()
        state = {"removed": False, "paused": False}

        def resume() -> None:
            state["paused"] = False
            if not state["removed"]:
                loop.add_handler(sock, accept, IOLoop.READ)

        def accept(fd, events) -> None:
            for _ in range(128):
                if state["removed"]:
                    return
                try:
                    connection, address = sock.accept()
                except BlockingIOError:
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as err:
                    if err.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                        raise
                    # out of descriptors: make room, and give the loop a moment instead of spinning
                    self._evict_one()
                    self._say(f"out of file descriptors ({err.strerror}); accepting again in "
                              f"{PAUSE_ON_EMFILE} s")
                    loop.remove_handler(sock)
                    state["paused"] = True
                    loop.call_later(PAUSE_ON_EMFILE, resume)
                    return
                self._handle_connection(connection, address)

        def remove() -> None:
            state["removed"] = True
            if not state["paused"]:
                loop.remove_handler(sock)

        loop.add_handler(sock, accept, IOLoop.READ)
        return remove


class _Watched(httputil.HTTPMessageDelegate):
    """Marks a connection busy once its request's headers are complete (until its next request starts)."""

    def __init__(self, delegate, server: GuardedHTTPServer, connection):
        self.delegate, self.server, self.connection = delegate, server, connection

    def headers_received(self, start_line, headers):
        self.server._waiting.pop(self.connection, None)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk):
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


LIMITS = {"idle_connection_timeout": HEADER_TIMEOUT, "body_timeout": BODY_TIMEOUT}


def guarded_server(app, max_body_size: int = HUB_BODY_LIMIT) -> GuardedHTTPServer:
    """A guarded server for one application (the daemon's service), leaving the process's others alone."""
    return GuardedHTTPServer(app, max_body_size=max_body_size, max_buffer_size=max_body_size, **LIMITS)


def guard_http_servers(max_body_size: int = HUB_BODY_LIMIT) -> None:
    """Make every `HTTPServer(...)` this process creates a GuardedHTTPServer with these limits (tornado's
    Configurable mechanism; JupyterHub and the proxy build their servers themselves)."""
    raise_descriptor_limit()
    HTTPServer.configure(GuardedHTTPServer, max_body_size=max_body_size, max_buffer_size=max_body_size, **LIMITS)
