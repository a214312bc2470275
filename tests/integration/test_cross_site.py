"""localhub's own API (/services/localhub/api/) refuses a change signed in by the browser's cookie unless it
comes from the hub's own pages: JupyterHub's cookies carry no SameSite, so any site's page could otherwise stop
a server or fetch a sign-in link with the visitor's cookie (api.py, cross_site_refusal)."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.docker

API = "/services/localhub/api"


def sign_in(browser: httpx.Client, hub) -> None:
    """Leave `browser` holding only what a browser holds after the sign-in link: the hub's and the service's
    cookies."""
    page = browser.get(hub.client.login_link(next_url="/services/localhub/"))
    assert page.status_code == 200, page.url


def running(hub, name: str) -> bool:
    listing = json.loads(hub.cli("servers", "ls", "--json").stdout)
    return any(s["name"] == name and s["status"] == "running" for s in listing)


def test_a_cookie_signed_change_from_another_site_is_refused_and_one_from_the_hubs_pages_works(hub):
    hub.cli("servers", "new", "xsite")
    try:
        with httpx.Client(base_url=hub.url, timeout=60, follow_redirects=True) as browser:
            sign_in(browser, hub)
            evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
            for path in ("/servers/xsite/stop", "/login-link", "/environments/prune"):
                refused = browser.post(API + path, content="{}", headers=evil)
                assert refused.status_code == 403, (path, refused.text)
                assert "did not come from this hub's own pages" in refused.json()["message"]
                assert "url" not in refused.json()
            # neither Origin nor Sec-Fetch-Site: not a browser's same-origin request either
            assert browser.post(API + "/servers/xsite/stop", content="{}").status_code == 403
            assert browser.post(API + "/servers/xsite/stop",
                                headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
            assert running(hub, "xsite")

            # reads are not changes: the hub's pages read with the cookie from anywhere they are shown
            assert browser.get(API + "/servers", headers={"Origin": "http://evil.example"}).status_code == 200
            # the hub's own page: its Origin is the hub (or the browser says same-origin)
            link = browser.post(API + "/login-link", json={}, headers={"Sec-Fetch-Site": "same-origin"})
            assert link.status_code == 200 and link.json()["url"].startswith(hub.url)
            stopped = browser.post(API + "/servers/xsite/stop", json={}, headers={"Origin": hub.url})
            assert stopped.status_code == 200, stopped.text
            assert not running(hub, "xsite")

        # a token-signed client (the CLI, scripts) is not a browser: any Origin goes
        with httpx.Client(base_url=hub.url, timeout=60,
                          headers={"Authorization": f"token {hub.token}", "Origin": "http://evil.example"}) as http:
            assert http.post(API + "/login-link", json={}).status_code == 200
    finally:
        hub.cli("servers", "delete", "xsite", "--yes", check=False)
