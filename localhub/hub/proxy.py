"""The hub's proxy: the pure-Python configurable-http-proxy from PyPI (no Node.js), with two fixes that
Binder clients need, run as `python -m localhub.hub.proxy` with the same options.

1. Paths are forwarded exactly as they arrived. Tornado hands the proxy handler a percent-decoded path,
   and the proxy re-quotes it leaving '/' bare, so an encoded slash in a Binder spec
   (`/build/git/https%3A%2F%2Fhost%2Frepo/main`, `/v2/gl/group%2Frepo/main`) would reach the service as
   a different path.
2. Responses are streamed as they arrive instead of being buffered whole, so Server-Sent Events (Binder's
   build stream, JupyterHub's spawn progress) reach the browser live and are not cut by the HTTP
   client's default 20-second request timeout.
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

from configurable_http_proxy import cli, configproxy
from configurable_http_proxy.handlers import ProxyHandler
from tornado.httpclient import AsyncHTTPClient
from tornado.httputil import HTTPHeaders, parse_response_start_line

from ..redact import hide_secrets

# a long build streams its log for as long as it takes
STREAM_TIMEOUT = 6 * 3600
_NOT_FORWARDED = {"content-length", "transfer-encoding", "content-encoding", "connection"}


class LocalhubProxyHandler(ProxyHandler):
    async def get_target_url(self, path):
        raw_path = self.request.path  # still percent-encoded, unlike `path`
        self.target = self.proxy.target_for_req(None, raw_path)
        if self.target is None:
            await self.handle_proxy_error(404, err=None)
            return None
        prefix, target = self.target["prefix"], self.target["target"]
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

    async def call_proxy(self, path=None):
        url = await self.get_target_url(path)
        if url is None:
            return
        request = self._get_proxy_request(url)
        request.request_timeout = self.proxy.proxy_timeout or STREAM_TIMEOUT
        request.header_callback = self._on_upstream_header
        request.streaming_callback = self._on_upstream_chunk
        self._upstream_status = None
        self._upstream_headers = HTTPHeaders()
        try:
            await AsyncHTTPClient().fetch(request, raise_error=False)
        except Exception as err:
            if self._upstream_status is None:
                await self.handle_proxy_error(503, err)
                return
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
            for key, value in self._upstream_headers.get_all():
                if key.lower() not in _NOT_FORWARDED:
                    self.set_header(key, value) if key.lower() in ("server", "content-type", "date") \
                        else self.add_header(key, value)

    def _on_upstream_chunk(self, chunk: bytes) -> None:
        self.write(chunk)
        self.flush()


def main() -> None:
    hide_secrets()  # its access log names refused URLs whole, `?token=` included
    # PythonProxy builds its application from this module-level name
    configproxy.ProxyHandler = LocalhubProxyHandler
    cli.main()


if __name__ == "__main__":
    main()
