"""The HTTP edge, against a throwaway server on the loopback interface (never the internet)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from localhub.binder import httpfetch

pytestmark = pytest.mark.unit


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/records/42")
            self.end_headers()
        elif self.path == "/records/42":
            body = b'{"id": 42}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # A configured HTTP proxy must not see (or answer for) the loopback server.
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_follows_redirects_and_reports_the_final_url(server: str) -> None:
    answer = httpfetch.fetch(f"{server}/moved")
    assert answer.url == f"{server}/records/42"
    assert answer.status == 200
    assert answer.json() == {"id": 42}


def test_http_error_keeps_its_status(server: str) -> None:
    with pytest.raises(httpfetch.FetchError) as caught:
        httpfetch.fetch(f"{server}/nothing")
    assert caught.value.status == 404


def test_unreachable_host_has_no_status() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpfetch.FetchError) as caught:
        httpfetch.fetch(f"http://127.0.0.1:{port}/", timeout=5)
    assert caught.value.status is None
