"""The notice script is added to a server's own app pages (JupyterLab's, Notebook 7's) and to nothing else:
which answers get it, that the page stays whole and correctly sized, and that what it carries is escaped.
The last tests run the real proxy process (test_proxy.py's) in front of an upstream that plays a server."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest
from tornado import web
from tornado.httputil import HTTPHeaders

from localhub.hub import page_notice
from localhub.hub.page_notice import HeldPage, notice_url, page_notice_url, snippet, with_notice
from tests.unit.test_proxy import proxy, serve  # noqa: F401 (the real proxy process, in front of `upstream` here)

pytestmark = pytest.mark.unit

SERVER = {"target": "http://172.17.0.5:8888", "user": "ada", "server_name": "s"}
HTML = {"Content-Type": "text/html; charset=UTF-8"}
LAB = (b"<!doctype html><html><head><title>JupyterLab</title></head>"
       b"<body><script id=\"jupyter-config-data\" type=\"application/json\">{}</script></body></html>")


def decide(path="/user/ada/s/lab", method="GET", route=SERVER, status=200, headers=HTML, prefix="/user/ada/s"):
    return page_notice_url(method, route, prefix, path, status, HTTPHeaders(headers))


@pytest.mark.parametrize("path", ["/user/ada/s/lab", "/user/ada/s/lab/", "/user/ada/s/lab/tree/a%20b.ipynb",
                                  "/user/ada/s/lab/workspaces/auto-x", "/user/ada/s/tree",
                                  "/user/ada/s/tree/data", "/user/ada/s/notebooks/a.ipynb",
                                  "/user/ada/s/edit/a.py", "/user/ada/s/consoles/1", "/user/ada/s/terminals/1",
                                  "/user/ada/s/doc/tree/a.ipynb"])
def test_a_servers_app_pages_get_the_notice(path):
    assert decide(path) == "/services/localhub/api/users/ada/servers/s/notice"


@pytest.mark.parametrize("path", ["/user/ada/s/files/report.html", "/user/ada/s/view/report.html",
                                  "/user/ada/s/", "/user/ada/s/laboratory", "/user/ada/s/api/contents",
                                  "/user/ada/s/static/lab/index.html", "/user/ada/s/nbconvert/html/a.ipynb"])
def test_other_pages_of_a_server_do_not(path):
    # a user's own HTML files, exports and anything else the server serves pass as they are
    assert decide(path) is None


def test_only_a_whole_html_answer_to_a_get_on_a_servers_route():
    assert decide(method="HEAD") is None and decide(method="POST") is None
    assert decide(status=304) is None and decide(status=404) is None and decide(status=302) is None
    assert decide(headers={"Content-Type": "application/json"}) is None
    assert decide(headers={}) is None
    assert decide(route={"target": "http://127.0.0.1:8081"}) is None  # the hub's or a service's route
    assert decide(route=None) is None
    # read by the proxy's client as plain HTML (gzip) or not touched at all
    assert decide(headers={**HTML, "Content-Encoding": "gzip"})
    assert decide(headers={**HTML, "Content-Encoding": "br"}) is None


def test_the_default_server_and_odd_names():
    assert decide("/user/ada/lab", route={**SERVER, "server_name": ""}, prefix="/user/ada") == \
        "/services/localhub/api/users/ada/servers//notice"
    assert notice_url("a/b", "x?y#z") == "/services/localhub/api/users/a%2Fb/servers/x%3Fy%23z/notice"


def test_the_script_carries_no_markup_from_names():
    piece = snippet(notice_url('"><img src=x onerror=alert(1)>', "</script><b>")).decode()
    attribute = re.search(r'data-localhub-notice="([^"]*)"', piece).group(1)
    assert "<" not in attribute and ">" not in attribute
    assert piece.count("<script") == 1 and piece.count("</script>") == 1


def test_the_script_goes_before_the_last_end_of_body():
    page = with_notice(b"<html><BODY>a</body><!-- </body> in a comment --></Body></html>", "/n")
    assert page.startswith(b"<html><BODY>a</body><!-- </body> in a comment -->" + snippet("/n"))
    assert page.endswith(b"</Body></html>")
    assert with_notice(b"{\"no\": \"body\"}", "/n") == b"{\"no\": \"body\"}"


def test_a_held_page_is_let_go_past_its_limit():
    held = HeldPage("/n", limit=10)
    assert held.feed(b"<body>") == b""
    assert held.feed(b"12345") == b"<body>12345"  # past the limit: streamed on from here, untouched
    assert held.feed(b"</body>") == b"</body>"
    assert held.end() == b""
    whole = HeldPage("/n", limit=100)
    assert whole.feed(b"<body>") == b"" and whole.feed(b"</body>") == b""
    assert whole.end() == b"<body>" + snippet("/n") + b"</body>"


# --- through the real proxy -----------------------------------------------------------------------------------

class Page(web.RequestHandler):
    def get(self, rest):
        if rest.startswith("files/") or rest.startswith("lab"):
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.set_header("Etag", '"as-the-server-made-it"')
            self.write(LAB)
        else:
            self.write({"rest": rest})


class GzipPage(web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/html")
        self.set_header("Content-Encoding", "gzip")
        self.write(gzip.compress(LAB))


class BigPage(web.RequestHandler):
    async def get(self):
        self.set_header("Content-Type", "text/html")
        self.write(b"<html><body>")
        for _ in range(3):
            self.write(b"x" * page_notice.PAGE_LIMIT)
            await self.flush()
        self.write(b"</body></html>")


@pytest.fixture(scope="module")
def upstream():
    return serve([(r"/user/ada/s/lab/gz", GzipPage), (r"/user/ada/s/lab/big", BigPage),
                  (r"/user/ada/s/(.*)", Page), (r"/(.*)", Page)])


@pytest.fixture(scope="module")
def server_route(proxy, upstream):  # noqa: F811
    api = f"http://127.0.0.1:{int(proxy.rsplit(':', 1)[1]) + 1}/api/routes"
    r = httpx.post(f"{api}/user/ada/s", json={"target": upstream, "user": "ada", "server_name": "s"},
                   headers={"Authorization": "token test-token"})
    assert r.status_code == 201
    return proxy + "/user/ada/s"


def test_jupyterlab_through_the_proxy_carries_the_script_and_its_length(server_route):
    r = httpx.get(server_route + "/lab")
    assert r.status_code == 200
    assert r.content == with_notice(LAB, "/services/localhub/api/users/ada/servers/s/notice")
    assert r.content.count(b"data-localhub-notice=") == 1
    assert int(r.headers["content-length"]) == len(r.content)
    # the server's tag named the page without the script: the one sent names the page as sent
    assert r.headers.get("etag") != '"as-the-server-made-it"'
    again = httpx.get(server_route + "/lab", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_a_gzipped_page_is_read_and_sent_whole(server_route):
    r = httpx.get(server_route + "/lab/gz")
    assert r.status_code == 200 and b"data-localhub-notice=" in r.content
    assert r.content == with_notice(LAB, "/services/localhub/api/users/ada/servers/s/notice")


def test_what_is_not_an_app_page_passes_as_it_came(server_route, proxy):  # noqa: F811
    files = httpx.get(server_route + "/files/report.html")  # the user's own HTML file
    assert files.content == LAB and files.headers["etag"] == '"as-the-server-made-it"'
    assert httpx.get(server_route + "/api/contents").json() == {"rest": "api/contents"}
    hub = httpx.get(proxy + "/lab")  # a page on a route that is not a server's
    assert hub.content == LAB


def test_a_page_too_large_to_hold_streams_untouched(server_route):
    r = httpx.get(server_route + "/lab/big", timeout=60)
    assert r.status_code == 200 and len(r.content) == 3 * page_notice.PAGE_LIMIT + len(b"<html><body></body></html>")
    assert b"data-localhub-notice" not in r.content


def test_asking_for_the_notice_is_no_activity_of_the_server(server_route, proxy):  # noqa: F811
    # an open page asks every few seconds: were that the server's activity, the idle culler would never stop it
    api = f"http://127.0.0.1:{int(proxy.rsplit(':', 1)[1]) + 1}/api/routes"
    auth = {"Authorization": "token test-token"}
    before = httpx.get(api, headers=auth).json()["/user/ada/s"]["last_activity"]
    assert httpx.get(proxy + notice_url("ada", "s")).status_code == 200  # reaches the daemon's route, here "/"
    assert httpx.get(api, headers=auth).json()["/user/ada/s"]["last_activity"] == before
    httpx.get(server_route + "/api/contents")  # while the server's own answers are
    assert httpx.get(api, headers=auth).json()["/user/ada/s"]["last_activity"] != before
