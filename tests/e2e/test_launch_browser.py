"""A Binder launch in a real browser (Debian's Chromium driven by Playwright): the launch page's form and
badges, the progress page's live event stream, and the landing in JupyterLab; and a Binder link with an
encoded `git` spec opened directly.

A hub of its own; repositories are tests/cases copied into tmp git repositories. A failing test leaves a
screenshot (its path is in the failure message).
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlencode

import pytest

from localhub.client import Client
from tests.support.binder import BUILD_PHASES, CaseRepo, images_under, remove_images_under
from tests.support.browser import goto, wait_for_app, watch_requests

pytestmark = [pytest.mark.browser, pytest.mark.docker]

LAB_READY = "#jp-main-dock-panel"
TIMEOUT_MS = 120_000  # a build, a spawn and JupyterLab's first load

# Runs in every page: on the progress page it writes down each phase the page shows and the log it has
# received so far into sessionStorage, which the JupyterLab page (same origin, same tab) can still read.
RECORD_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const phase = document.getElementById("phase"), log = document.getElementById("log");
  if (!phase || !log || !location.pathname.startsWith("/services/localhub/v2/")) return;
  const seen = {native: String(window.EventSource).includes("[native code]"), phases: [], log: ""};
  const save = () => {
    if (seen.phases[seen.phases.length - 1] !== phase.textContent) seen.phases.push(phase.textContent);
    seen.log = log.textContent;
    sessionStorage.setItem("localhub-progress", JSON.stringify(seen));
  };
  new MutationObserver(save).observe(document.body, {childList: true, characterData: true, subtree: true});
});
"""


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return tmp_path_factory.mktemp("browser-repos")


# A page of another origin that launches like Thebe or Jupyter Book's live code: an EventSource on /build/ with
# the token in the query (EventSource cannot send a header), then the server with the token the hub gave.
BOOK_PAGE = """<!doctype html><title>book</title><script>
const p = new URLSearchParams(location.hash.slice(1));
window.phases = [];
const source = new EventSource(p.get("hub") + "/build/" + p.get("spec") + "?token=" + encodeURIComponent(p.get("token")));
source.onmessage = (message) => {
  const ev = JSON.parse(message.data);
  window.phases.push(ev.phase);
  if (ev.phase === "ready" || ev.phase === "failed") { source.close(); window.result = ev; }
};
source.onerror = () => { if (window.result === undefined) { source.close(); window.result = {phase: "refused"}; } };
</script>"""


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A static web server on another port (another origin) serving BOOK_PAGE."""
    root = tmp_path_factory.mktemp("book")
    (root / "book.html").write_text(BOOK_PAGE)
    # a page that sends the browser on to the link in its fragment at once, as a hostile page would
    (root / "go.html").write_text("<script>location.replace(decodeURIComponent(location.hash.slice(1)))</script>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SimpleNamespace(allowed=f"http://127.0.0.1:{server.server_port}",
                          other=f"http://localhost:{server.server_port}")  # same server, an origin not allowed
    server.shutdown()


@pytest.fixture(scope="module")
def ehub(hub_factory, repos, book):
    # the module's tests launch six servers and keep them: room for all, whichever worker runs which test
    hub = hub_factory.start("binder-browser", cors_allow_origin=book.allowed, max_named_servers=10)
    yield hub
    hub_factory.close(hub)
    remove_images_under(repos)


SIGN_IN = ["link", "token-header"]


@contextmanager
def open_page(browser, hub, sign_in: str, next_url: str):
    """A fresh browser context, signed in and on `next_url`: with the one-time sign-in link as a person
    would, or (`token-header`) sending the hub's API token with every request, which sidesteps the
    service's sign-in so the rest of the flow stays covered while that sign-in is broken."""
    headers = {"Authorization": f"token {hub.token}"} if sign_in == "token-header" else None
    context = browser.new_context(viewport={"width": 1280, "height": 900}, extra_http_headers=headers)
    context.add_init_script(RECORD_PROGRESS)
    page = context.new_page()
    page.set_default_timeout(30_000)
    watch_requests(page)
    try:
        if sign_in == "link":
            goto(page, Client(hub.state_dir).login_link(next_url=next_url))
        else:
            goto(page, hub.url + next_url)
        yield page
    finally:
        context.close()


@contextmanager
def screenshot_on_failure(page, tmp_path: Path, name: str):
    try:
        yield
    except BaseException as err:
        shot = tmp_path / f"{name}.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            where = f"screenshot: {shot}; page: {page.url}"
        except Exception as shot_err:  # the screenshot must never hide the real failure
            where = f"no screenshot ({shot_err}); page: {page.url}"
        raise AssertionError(f"{err} [{where}]") from err


def recorded_progress(page) -> dict:
    return json.loads(page.evaluate("sessionStorage.getItem('localhub-progress')") or "{}")


def assert_not_refused(page) -> None:
    """Fail at once (not after a long wait) when a navigation ended on an error page."""
    title = page.title()
    assert not title[:3].isdigit(), f"{page.url} answered {title!r}: {page.inner_text('body')[:300]}"


def wait_for_jupyterlab(page, hub, server: str, path: str = "lab") -> None:
    page.wait_for_url(f"**/user/{hub.user}/{server}/{path}**", timeout=TIMEOUT_MS)
    wait_for_app(page, LAB_READY, TIMEOUT_MS)
    assert page.locator(".jp-LabShell").count() == 1


@pytest.mark.parametrize("sign_in", SIGN_IN)
def test_launch_page_form_badges_progress_and_jupyterlab(ehub, repos, browser, tmp_path, sign_in):
    server = f"webform-{sign_in[:5]}"
    repo = CaseRepo("dockerfile-basic", repos, server)
    spec = repo.spec()
    binder_link = f"{ehub.url}/v2/{spec}"

    with open_page(browser, ehub, sign_in, "/services/localhub/") as page, \
            screenshot_on_failure(page, tmp_path, "launch-page"):
        streams = []
        page.on("request", lambda r: streams.append(r.url) if r.resource_type == "eventsource" else None)
        assert_not_refused(page)
        page.wait_for_url(f"{ehub.url}/services/localhub/")
        assert page.locator("#launch").is_disabled()

        # typed key by key, as a person would: the link and badges follow the input
        page.locator("#repository").press_sequentially(binder_link, delay=5)
        page.wait_for_function("document.getElementById('link').value !== ''")
        assert page.input_value("#link") == binder_link
        page.locator("#path").press_sequentially("index.ipynb", delay=20)
        link = f"{binder_link}?urlpath=lab/tree/index.ipynb"
        page.wait_for_function(f"document.getElementById('link').value === {json.dumps(link)}")
        badge = f"{ehub.url}/services/localhub/badge.svg"
        assert page.input_value("#markdown") == f"[![Launch on localhub]({badge})]({link})"
        assert page.text_content("#rst") == f".. image:: {badge}\n   :target: {link}"
        assert page.text_content("#error") == ""
        assert page.locator("#launch").is_enabled()

        page.click("#launch")
        page.wait_for_url(f"**/services/localhub/v2/{spec}**")
        wait_for_jupyterlab(page, ehub, server, "lab/tree/index.ipynb")

        seen = recorded_progress(page)
        assert seen.get("native") is True  # the page read the stream with the browser's own EventSource
        assert [p for p in seen["phases"] if p in BUILD_PHASES] == list(BUILD_PHASES), seen["phases"]
        assert "Resolving HEAD of file://" in seen["log"] and "Using DockerBuildPack builder" in seen["log"], \
            seen["log"]
        assert streams == [f"{ehub.url}/services/localhub/build/{spec}?urlpath=lab/tree/index.ipynb"]

        # the launch page lists it among the recent launches
        goto(page, f"{ehub.url}/services/localhub/")
        assert page.locator("#recent li", has_text=server).count() == 1


@pytest.mark.parametrize("sign_in", SIGN_IN)
def test_binder_link_with_encoded_git_spec_opens_the_notebook(ehub, repos, browser, tmp_path, sign_in):
    server = f"weblink-{sign_in[:5]}"
    repo = CaseRepo("dockerfile-basic", repos, server)
    link = f"{ehub.url}/v2/{repo.spec()}?urlpath=lab%2Ftree%2Findex.ipynb"

    # signed in once, as after following the link `localhub up` prints, then the link is opened
    first = "/hub/home" if sign_in == "link" else link.removeprefix(ehub.url)
    with open_page(browser, ehub, sign_in, first) as page, screenshot_on_failure(page, tmp_path, "binder-link"):
        if sign_in == "link":
            page.wait_for_url("**/hub/home")
            goto(page, link)
        assert_not_refused(page)
        wait_for_jupyterlab(page, ehub, server, "lab/tree/index.ipynb")
        page.locator(".jp-NotebookPanel").wait_for(timeout=TIMEOUT_MS)
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        assert tab.inner_text().strip() == "index.ipynb"
        page.locator(".jp-Cell .cm-content", has_text='print("hello from localhub")').wait_for()
        seen = recorded_progress(page)
        assert [p for p in seen["phases"] if p in BUILD_PHASES] == list(BUILD_PHASES), seen["phases"]


def test_a_page_of_another_origin_launches_like_thebe(ehub, repos, browser, book, tmp_path):
    repo = CaseRepo("dockerfile-basic", repos, "thebe")
    token = Client(ehub.state_dir).create_token(3600, "a Thebe-style page")["token"]
    fragment = urlencode({"hub": ehub.url, "spec": repo.spec(), "token": token})
    context = browser.new_context()
    try:
        page = context.new_page()
        with screenshot_on_failure(page, tmp_path, "thebe"):
            goto(page, f"{book.other}/book.html#{fragment}")  # an origin the hub does not allow: nothing read
            page.wait_for_function("window.result !== undefined", timeout=60_000)
            assert page.evaluate("window.result")["phase"] == "refused"

            goto(page, f"{book.allowed}/book.html#{fragment}")
            page.wait_for_function("window.result !== undefined", timeout=TIMEOUT_MS)
            result = page.evaluate("window.result")
            assert result["phase"] == "ready", result
            assert list(dict.fromkeys(page.evaluate("window.phases"))) == list(BUILD_PHASES)

            # the page may use the server too, as Thebe does for its kernels (the server answers its origin)
            kernels = page.evaluate("""async (r) => {
                const answer = await fetch(r.url + "api/kernels", {headers: {Authorization: "token " + r.token}});
                return [answer.status, await answer.json()];
            }""", result)
            assert kernels[0] == 200 and isinstance(kernels[1], list), kernels

            # as Binder clients do, the server is opened with the token of the ready event, in the URL
            goto(page, f"{result['url']}?token={result['token']}")
            wait_for_jupyterlab(page, ehub, result["server"])
    finally:
        context.close()


def test_another_sites_link_to_a_folder_here_asks_before_building(ehub, repos, browser, book, tmp_path):
    """A page of another site sends a signed-in browser to a Binder link naming a folder of this machine: the
    hub asks (nothing is built), and the user's own click launches it."""
    repo = CaseRepo("dockerfile-basic", repos, "asked")
    link = f"{ehub.url}/v2/{repo.spec()}"
    with open_page(browser, ehub, "link", "/hub/home") as page, screenshot_on_failure(page, tmp_path, "asked"):
        page.wait_for_url("**/hub/home")
        goto(page, f"{book.other}/go.html#{quote(link, safe='')}")
        page.wait_for_selector("#confirm")
        assert "Launch a folder of this machine?" in page.inner_text("h2")
        time.sleep(2)  # had a build been started, its image would be on its way
        assert not images_under(repo.path)
        assert "asked" not in {s["name"] for s in json.loads(ehub.cli("servers", "ls", "--json").stdout)}
        page.click("#confirm")
        wait_for_jupyterlab(page, ehub, "asked")
