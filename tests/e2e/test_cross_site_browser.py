"""In a real browser, a page of another origin that auto-submits a form to localhub's API with the visitor's
sign-in cookie is refused, while the hub's own page does the same change with fetch() (api.py,
cross_site_refusal). The other page is served on another port of the same address: the same site, so the
browser sends the cookie (JupyterHub's cookies carry no SameSite) and only the origin check stands in the way."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

FORM = """<!doctype html><form id=f method=post enctype=text/plain action="{action}">
<input name='{{"x":"' value='"}}'></form><script>document.getElementById('f').submit()</script>"""


def other_origin_page(host: str, action: str) -> ThreadingHTTPServer:
    body = FORM.format(action=action).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def running(hub, name: str) -> bool:
    return any(s["name"] == name and s["status"] == "running"
               for s in json.loads(hub.cli("servers", "ls", "--json").stdout))


def test_another_origins_form_cannot_stop_a_server_and_the_hubs_own_page_can(hub, browser):
    hub.cli("servers", "new", "formx")
    stop = f"{hub.url}/services/localhub/api/servers/formx/stop"
    evil = other_origin_page(urlsplit(hub.url).hostname, stop)
    page = browser.new_context().new_page()
    try:
        page.goto(hub.client.login_link(next_url="/services/localhub/"))
        page.wait_for_url(f"{hub.url}/services/localhub/**")

        with page.expect_response(stop) as answered:
            page.goto(f"http://{urlsplit(hub.url).hostname}:{evil.server_address[1]}/")
        assert answered.value.status == 403
        assert "did not come from this hub's own pages" in answered.value.json()["message"]
        assert running(hub, "formx")

        page.goto(f"{hub.url}/services/localhub/")
        status = page.evaluate("""async url => (await fetch(url, {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json"}, body: "{}"})).status""", stop)
        assert status == 200
        assert not running(hub, "formx")
    finally:
        evil.shutdown()
        page.context.close()
        hub.cli("servers", "delete", "formx", "--yes", check=False)
