"""A server's notice inside its own JupyterLab page, in a real browser on a real hub (page_notice.py,
notice_web.py): a process killed at the server's memory limit while the page is open shows there within
seconds, as text (the process's name is hostile markup), replaced by the next notice, dismissable, and in
Notebook 7's page too; the page of another server of the same user shows nothing; nobody but the owner can read a notice. And a page whose
notice cannot be asked for (no daemon behind the proxy) works as before, with no note."""

from __future__ import annotations

import time

import httpx
import pytest
from tornado import web

from localhub.hub.page_notice import notice_url
from tests.support.browser import goto, open_app
from tests.unit.test_proxy import proxy, serve  # noqa: F401 (the real proxy process, in front of `upstream` here)

pytestmark = [pytest.mark.browser, pytest.mark.docker]

HOSTILE = "<b>x&amp;<i>y"  # a process name (at most 15 characters) that is markup
NOTE = "#localhub-notice"


def container_of(hub, name: str):
    (container,) = [c for c in hub.containers(all=False) if c.name.endswith(f"--{name}")]
    return container


def kill_at_memory_limit(hub, server: str, name: str) -> None:
    """A process named `name` (its command and the kernel's name for it) that outgrows the server's 1 GB limit,
    after living long enough to be seen in the server's process list (server_watch.py looks every 5 s)."""
    code = f"open('/proc/self/comm', 'w').write({name!r}); import time; time.sleep(6); x = bytearray(1500 * 2**20)"
    hog = container_of(hub, server).exec_run(["bash", "-c", f'exec -a "$0" python3 -c "$1"', name, code])
    assert hog.exit_code == 137, hog.output  # killed by the kernel


def is_notice_answer(server: str):
    return lambda r: r.url.endswith(f"/servers/{server}/notice") and r.status == 200


def a_look(page, server: str) -> dict:
    """The next notice the page's script reads from the daemon."""
    with page.expect_response(is_notice_answer(server), timeout=30_000) as answer:
        pass
    return answer.value.json()


@pytest.fixture(scope="module")
def two_servers(hub):
    for name in ("noticed", "calm"):
        hub.cli("servers", "new", name, "--profile", "small")
    yield "noticed", "calm"
    for name in ("noticed", "calm"):
        hub.cli("servers", "delete", name, "--yes", check=False)


def test_a_notice_shows_in_its_servers_jupyterlab_only_as_text_and_live(hub, browser, two_servers, tmp_path):
    noticed, calm = two_servers
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pages, errors = {}, {}
    try:
        signin = context.new_page()
        goto(signin, hub.cli("login").stdout.strip())
        signin.wait_for_url("**/hub/home")
        for name in two_servers:
            page = pages[name] = context.new_page()
            page.set_default_timeout(60_000)
            page.on("pageerror", lambda err, mine=errors.setdefault(name, []): mine.append(err))
            first = open_app(page, f"{hub.url}/user/{hub.user}/{name}/lab", "#jp-main-dock-panel",
                             expect=is_notice_answer(name), errors=errors[name])
            assert first == {"notice": None}  # asked through the hub's sign-in, and nothing to say
            assert page.locator(NOTE).count() == 0

        # set while the page is open: it shows within seconds, as the text it is
        kill_at_memory_limit(hub, noticed, HOSTILE)
        lab = pages[noticed]
        lab.wait_for_selector(NOTE, timeout=30_000)
        text = lab.inner_text(f"{NOTE} .localhub-notice-text")
        assert text.startswith("localhub: out of memory: the kernel killed ") and HOSTILE in text, text
        assert "memory limit" in text
        assert lab.locator(f"{NOTE} b, {NOTE} i, {NOTE} img").count() == 0  # no markup made it into the page
        # the same sentence as `localhub servers ls`
        assert hub.client.server(noticed).notice == text.removeprefix("localhub: ")

        # the other server's page, open all along, asked again since and shows nothing
        assert a_look(pages[calm], calm) == {"notice": None}
        assert pages[calm].locator(NOTE).count() == 0

        # a new notice replaces the one shown, without a reload
        kill_at_memory_limit(hub, noticed, "second-hog")
        lab.wait_for_function("document.querySelector('#localhub-notice .localhub-notice-text')"
                              ".textContent.includes('second-hog')", timeout=30_000)
        assert lab.locator(NOTE).count() == 1

        # dismissed, it stays away while it says the same, also after a reload of the page
        lab.click(f"{NOTE} .localhub-notice-dismiss")
        assert lab.locator(NOTE).count() == 0
        assert "second-hog" in a_look(lab, noticed)["notice"]
        assert lab.locator(NOTE).count() == 0
        with lab.expect_response(is_notice_answer(noticed)):
            lab.reload()
        assert lab.locator(NOTE).count() == 0
        # and a different notice shows again
        kill_at_memory_limit(hub, noticed, "third-hog")
        lab.wait_for_selector(NOTE, timeout=30_000)
        assert "third-hog" in lab.inner_text(NOTE)
        # Notebook 7's pages carry it too
        notebook = pages["notebook 7"] = context.new_page()
        goto(notebook, f"{hub.url}/user/{hub.user}/{noticed}/tree")
        notebook.wait_for_selector(NOTE, timeout=30_000)
        assert "third-hog" in notebook.inner_text(NOTE)
        assert not any(errors.values()), errors
    except Exception:
        for name, page in pages.items():
            page.screenshot(path=str(tmp_path / f"{name}.png"))
        raise
    finally:
        context.close()


def test_only_the_owner_reads_a_notice(hub, two_servers):
    noticed, _ = two_servers
    if hub.client.server(noticed).notice is None:  # run alone, without the test above
        kill_at_memory_limit(hub, noticed, HOSTILE)
    deadline = time.monotonic() + 30
    while hub.client.server(noticed).notice is None and time.monotonic() < deadline:
        time.sleep(0.5)
    notice = hub.client.server(noticed).notice
    assert notice and notice.startswith("out of memory")
    admin = {"Authorization": f"token {hub.token}"}  # the localhub service's own token (the CLI's)
    url = hub.url + notice_url(hub.user, noticed)
    with httpx.Client(base_url=hub.url + "/hub/api", headers=admin) as api:
        mine = api.post(f"/users/{hub.user}/tokens", json={"note": "notice test"}).json()["token"]
        assert api.post("/users/mallory").status_code == 201
        try:
            theirs = api.post("/users/mallory/tokens", json={"note": "notice test"}).json()["token"]
            owner = httpx.get(url, headers={"Authorization": f"token {mine}"})
            assert owner.status_code == 200 and owner.json() == {"notice": notice}  # as `servers ls` says
            for token in (theirs, hub.token):  # another user of the hub; a service, which is nobody
                refused = httpx.get(url, headers={"Authorization": f"token {token}"})
                assert refused.status_code in (302, 403) and "out of memory" not in refused.text
            # nor by naming the server under the other user's name
            other = httpx.get(hub.url + notice_url("mallory", noticed), headers={"Authorization": f"token {mine}"})
            assert other.status_code == 403
        finally:
            api.delete("/users/mallory")


# --- a page whose daemon does not answer ---------------------------------------------------------------------

LAB_LIKE = b"""<!doctype html><html><head><title>loading</title></head><body><div id="app"></div>
<script>document.getElementById("app").textContent = "the page's own code ran"; document.title = "ready";</script>
</body></html>"""


class LabLike(web.RequestHandler):
    def get(self, _):
        self.set_header("Content-Type", "text/html")
        self.write(LAB_LIKE)


class Down(web.RequestHandler):
    """A daemon that never answers; for the server named `blip`, one that misses one answer, then has a notice."""
    asked = 0

    def get(self, path):
        if path.endswith("/servers/blip/notice"):
            Down.asked += 1
            if Down.asked > 1:
                self.write({"notice": "back after a blip"})
                return
        self.set_status(503)
        self.write("daemon restarting")


@pytest.fixture(scope="module")
def upstream():
    return serve([(r"/services/localhub/(.*)", Down), (r"/(.*)", LabLike)])


def test_a_page_works_as_before_when_its_notice_cannot_be_asked_for(proxy, upstream, browser):  # noqa: F811
    api = f"http://127.0.0.1:{int(proxy.rsplit(':', 1)[1]) + 1}/api/routes"
    httpx.post(f"{api}/user/ada/s", json={"target": upstream, "user": "ada", "server_name": "s"},
               headers={"Authorization": "token test-token"}).raise_for_status()
    page = browser.new_context().new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(err))
    try:
        with page.expect_response(lambda r: r.url.endswith("/users/ada/servers/s/notice")) as asked:
            goto(page, proxy + "/user/ada/s/lab")
        assert asked.value.status == 503  # the script asked, and the daemon did not answer
        page.wait_for_function("document.title === 'ready'")
        assert page.inner_text("#app") == "the page's own code ran"
        assert page.evaluate("document.querySelectorAll('script[data-localhub-notice]').length") == 1
        assert page.locator(NOTE).count() == 0 and errors == []
    finally:
        page.context.close()


def test_one_lost_answer_delays_a_notice_by_seconds_not_half_a_minute(proxy, upstream, browser):  # noqa: F811
    Down.asked = 0  # runs once for each form of the proxy (test_proxy.py), with one upstream
    api = f"http://127.0.0.1:{int(proxy.rsplit(':', 1)[1]) + 1}/api/routes"
    httpx.post(f"{api}/user/ada/blip", json={"target": upstream, "user": "ada", "server_name": "blip"},
               headers={"Authorization": "token test-token"}).raise_for_status()
    page = browser.new_context().new_page()
    try:
        with page.expect_response(lambda r: r.url.endswith("/users/ada/servers/blip/notice")) as asked:
            goto(page, proxy + "/user/ada/blip/lab")
        assert asked.value.status == 503
        # asked again after 8 s (not 30 s, as when one answer lost made it ask as rarely as when the daemon is gone)
        page.wait_for_selector(NOTE, timeout=15_000)
        assert "back after a blip" in page.inner_text(NOTE)
    finally:
        page.context.close()
