"""The hub's proxy: the pure-Python configurable-http-proxy from PyPI (no Node.js), with the fixes below. localhub
runs it inside JupyterHub's process (hub_proxy.py); `python -m localhub.hub.proxy` runs it as a process of its own,
with configurable-http-proxy's options (its tests do).

1. Paths are forwarded exactly as they arrived. Tornado hands the proxy handler a percent-decoded path,
   and the proxy re-quotes it leaving '/' bare, so an encoded slash in a Binder spec
   (`/build/git/https%3A%2F%2Fhost%2Frepo/main`, `/v2/gl/group%2Frepo/main`) would reach the service as
   a different path.
2. Responses are streamed as they arrive instead of being buffered whole, so Server-Sent Events (Binder's
   build stream, JupyterHub's spawn progress) reach the browser live and are not cut by the HTTP
   client's default 20-second request timeout.
3. Request bodies are streamed too, and capped before they are read (limits.py): the hub's and localhub's
   routes take small bodies, a single-user server's route large uploads (it applies its own limit). A
   body is never held whole in the proxy's memory, so unauthenticated floods cost it nothing.
4. A server's own app pages (JupyterLab's, Notebook 7's) get a small script that shows what localhub has to
   tell the server's user (page_notice.py); every other answer passes as it came.
5. A request for a paused server resumes it first (resume.py): the daemon marks a paused server's route, and
   the mark is changed through `PATCH /api/routes/<path>`, which keeps the route's last activity.
"""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import quote, urlparse

from ..lean import skip_unused

skip_unused()  # before tornado: what the proxy does without (lean.py)

from configurable_http_proxy import cli, configproxy  # noqa: E402 (after skip_unused)
from configurable_http_proxy.handlers import APIHandler, ProxyHandler
from tornado.httpclient import AsyncHTTPClient
from tornado.httputil import HTTPHeaders, parse_response_start_line
from tornado.log import access_log
from tornado.web import Application, stream_request_body

from . import limits, page_notice, resume

from ..lifecycle import die_with_parent
from ..redact import hide_secrets

# a long build streams its log for as long as it takes
STREAM_TIMEOUT = 6 * 3600
# requests forwarded at once. Each streaming answer (a build's log, a spawn's progress, any open event stream)
# holds one for as long as it lasts; past them tornado queues a request and refuses it 20 s later (503 "Timeout
# in request queue"). Tornado's default of 10 let 20 concurrent launches lock the hub's own API out.
MAX_UPSTREAM = 500
_NOT_FORWARDED = {"content-length", "transfer-encoding", "content-encoding", "connection"}


class BodyPipe:
    """Chunks of a request body on their way upstream, a few at a time (the client waits while it is full)."""

    def __init__(self, depth: int = 4):
        self._queue: asyncio.Queue = asyncio.Queue(depth)
        self._closed = asyncio.Event()

    async def feed(self, chunk: bytes | None) -> None:
        """Pass a chunk on (None: the body is complete); returns at once once the upstream has gone."""
        if self._closed.is_set():
            return
        try:
            self._queue.put_nowait(chunk)
            return
        except asyncio.QueueFull:
            pass
        put, closed = asyncio.ensure_future(self._queue.put(chunk)), asyncio.ensure_future(self._closed.wait())
        await asyncio.wait({put, closed}, return_when=asyncio.FIRST_COMPLETED)
        put.cancel()
        closed.cancel()

    async def produce(self, write) -> None:
        """tornado's body_producer: writes chunks upstream as they come."""
        while (chunk := await self._queue.get()) is not None:
            await write(chunk)

    def close(self) -> None:
        self._closed.set()


@stream_request_body
class LocalhubProxyHandler(ProxyHandler):
    _pipe: BodyPipe | None = None
    _upstream: asyncio.Future | None = None
    _page: page_notice.HeldPage | None = None  # a server's app page, held to add the notice script

    def prepare(self):
        """After the headers, before any of the body: cap it by route, and start streaming it upstream."""
        route = self.proxy.target_for_req(None, self.request.path)
        to_server = bool(route) and route["prefix"].startswith("/user/")
        limit = limits.SERVER_BODY_LIMIT if to_server else limits.HUB_BODY_LIMIT
        self.request.connection.set_max_body_size(limit)
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            self.set_status(413)
            self.finish(f"Request body too large: at most {limit // limits.MiB} MiB here.")
            return
        chunked = "chunked" in self.request.headers.get("Transfer-Encoding", "").lower()
        if (length.isdigit() and int(length) > 0) or chunked:
            self._pipe = BodyPipe()
            self._upstream = asyncio.ensure_future(self._forward(self.path_args[0] if self.path_args else None))

    async def data_received(self, chunk: bytes) -> None:
        if self._pipe is not None:
            await self._pipe.feed(chunk)

    def on_connection_close(self):
        if self._pipe is not None:
            self._pipe.close()
        super().on_connection_close()

    def _get_proxy_request(self, url):
        request = super()._get_proxy_request(url)
        if self._pipe is not None:
            request.body = None
            request.body_producer = self._pipe.produce
        return request

    async def call_proxy(self, path=None):
        if self._upstream is not None:  # the body has been streamed: wait for the answer
            await self._pipe.feed(None)
            await self._upstream
            return
        await self._forward(path)

    async def get_target_url(self, path):
        raw_path = self.request.path  # still percent-encoded, unlike `path`
        self.target = self.proxy.target_for_req(None, raw_path)
        if self.target is None:
            await self.handle_proxy_error(404, err=None)
            return None
        prefix, target = self.target["prefix"], self.target["target"]
        try:
            await RESUMER.resume(self.proxy._routes, prefix)  # a paused server: resumed before it is asked
        except Exception as err:
            await self.handle_proxy_error(503, err)
            return None
        proxy_path = raw_path
        if not self.proxy.include_prefix:
            proxy_path = proxy_path[len(quote(prefix)):]
        target = urlparse(target)
        if self.proxy.prepend_path:
            queries = [q for q in (target.query, self.request.query) if q]
            target = target._replace(query="&".join(queries),
                                     path=target.path.rstrip("/") + "/" + proxy_path.lstrip("/"))
        else:
            target = target._replace(query=self.request.query, path=proxy_path)
        return target.geturl()

    async def _forward(self, path=None):
        url = await self.get_target_url(path)
        if url is None:
            if self._pipe is not None:
                self._pipe.close()
            return
        request = self._get_proxy_request(url)
        request.request_timeout = self.proxy.proxy_timeout or STREAM_TIMEOUT
        request.header_callback = self._on_upstream_header
        request.streaming_callback = self._on_upstream_chunk
        self._upstream_status = None
        self._upstream_headers = HTTPHeaders()
        try:
            await self.proxy.upstream.fetch(request, raise_error=False)
        except Exception as err:
            if self._upstream_status is None:
                await self.handle_proxy_error(503, err)
                return
        finally:
            if self._pipe is not None:
                self._pipe.close()  # the upstream has answered: the rest of the body goes nowhere
        if self._page is not None and not self._finished:
            rest = self._page.end()
            if self._page.held:  # the whole page, script added: its length is known
                self.set_header("Content-Length", len(rest))
            self.write(rest)
        if not self._finished:
            self.finish()

    def _on_upstream_header(self, line: str) -> None:
        if line.startswith("HTTP/"):
            self._upstream_status = parse_response_start_line(line.strip())
            self._upstream_headers = HTTPHeaders()
        elif line.strip():
            self._upstream_headers.parse_line(line)
        elif self._upstream_status and self._upstream_status.code >= 200:  # end of the final headers
            self.set_status(self._upstream_status.code, self._upstream_status.reason)
            url = self.target and page_notice.page_notice_url(
                self.request.method, self.proxy.get_route(self.target["prefix"]), self.target["prefix"],
                self.request.path, self._upstream_status.code, self._upstream_headers)
            self._page = page_notice.HeldPage(url) if url else None
            for key, value in self._upstream_headers.get_all():
                if self._page is not None and key.lower() == "etag":
                    continue  # it names the page without the script; tornado tags the page as sent
                if key.lower() not in _NOT_FORWARDED:
                    self.set_header(key, value) if key.lower() in ("server", "content-type", "date") \
                        else self.add_header(key, value)

    def _on_upstream_chunk(self, chunk: bytes) -> None:
        if self._page is not None:
            chunk = self._page.feed(chunk)
            if not chunk:
                return
        self.write(chunk)
        self.flush()


RESUMER = resume.Resumer()


def log_refused(handler) -> None:
    """The access log of the proxy's requests: those refused or failed only (every request a server's page makes
    would be a line of JupyterHub's log). The proxy's own handlers say what it refused and why."""
    status = handler.get_status()
    if status >= 400:
        (access_log.warning if status < 500 else access_log.error)(
            "%d %s %.2fms", status, handler._request_summary(), 1000.0 * handler.request.request_time())


class LocalhubProxy(configproxy.PythonProxy):
    """configurable-http-proxy's proxy (its route table, its options) with localhub's handlers, and an HTTP client
    of its own for the upstream requests (MAX_UPSTREAM at once; the process's shared client stays as it was)."""

    def __init__(self, options=()):
        super().__init__(options)
        self.api_app = Application([(r"^\/api\/routes(\/.*)?$", LocalhubAPIHandler, {"proxy": self})],
                                   log_function=log_refused)
        self.proxy_app = Application([(r"/(.*)", LocalhubProxyHandler, {"proxy": self})], log_function=log_refused)
        self.upstream = AsyncHTTPClient(force_instance=True, max_clients=MAX_UPSTREAM)


class LocalhubAPIHandler(APIHandler):
    """The proxy's REST API, plus PATCH: set or clear a route's paused mark, keeping its last activity."""

    def patch(self, path: str | None = None):
        self.is_authorized()
        try:
            change = json.loads(self.request.body or b"{}")
        except ValueError:
            change = None
        if not isinstance(change, dict) or set(change) != {resume.PAUSED} or \
                not isinstance(change[resume.PAUSED], (str, type(None))):
            self.set_status(400)
            self.finish(f"A PATCH sets only {resume.PAUSED} (a container id, or null).")
            return
        if not path or not self.proxy.get_route(path):
            self.set_status(404)
            self.finish()
            return
        self.proxy._routes.update(path, change)
        self.set_status(204)
        self.finish()


def main() -> None:
    # never outlives the JupyterHub that started it, however that one dies (hub/run.py names it)
    die_with_parent(int(os.environ.get("LOCALHUB_HUB_PID") or os.getppid()))
    hide_secrets()  # its access log names refused URLs whole, `?token=` included
    cli.PythonProxy = LocalhubProxy  # the library's command builds its proxy from this module-level name
    # its servers (the proxy's and its API's) are built by the library: make them guarded ones (routes to
    # single-user servers raise the body cap per request, in prepare)
    limits.guard_http_servers(max_body_size=limits.HUB_BODY_LIMIT)
    cli.main()


if __name__ == "__main__":
    main()
