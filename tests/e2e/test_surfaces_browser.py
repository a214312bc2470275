"""The hub's own pages in a real browser (Debian's Chromium driven by Playwright), as a new user meets them:
the progress page moving with the build's steps and clock, with an estimate from the previous build; a failed
launch in one red state with its log a click away and Retry recovering once the repository is fixed; the
environments page (sizes counting shared layers once, build from a link, remove after a confirmation, the build
log); and the launch form's copy buttons, File/URL path and profile.

One hub and one browser for the module; repositories are small Dockerfile repos in tmp git repositories.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from localhub.client import Client
from tests.support.binder import git, git_spec, read_build, remove_images_under
from tests.support.browser import goto

pytestmark = [pytest.mark.browser, pytest.mark.docker]

TIMEOUT_MS = 180_000
STEPS = """FROM localhub/singleuser:test
RUN echo "one" && sleep {first}
RUN echo "two" && sleep 2
COPY --chown=1000:1000 . /home/jovyan
RUN echo "four" && sleep 2
"""
BROKEN = """FROM localhub/singleuser:test
RUN echo "about to fail"
RUN {command}
"""

# Runs in every page: the progress page's bar value, status line and phase, each time one changes
WATCH_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("bar");
  if (!bar || !location.pathname.startsWith("/services/localhub/v2/")) return;
  const seen = {bar: [], clock: [], detail: [], title: document.title};
  const save = () => {
    const last = (list, value) => { if (list[list.length - 1] !== value) list.push(value); };
    last(seen.bar, Number(bar.value));
    last(seen.clock, document.getElementById("clock").textContent);
    last(seen.detail, document.getElementById("detail").textContent);
    sessionStorage.setItem("localhub-watch", JSON.stringify(seen));
  };
  new MutationObserver(save).observe(document.body, {childList: true, characterData: true, subtree: true});
  setInterval(save, 200);  // a <progress> value is a property: no mutation to observe
});
"""


def make_repo(root: Path, name: str, dockerfile: str) -> Path:
    path = root / name
    path.mkdir()
    (path / "Dockerfile").write_text(dockerfile)
    (path / "README.md").write_text(f"# {name}\n")
    git(path, "init", "-q", "-b", "main")
    commit(path, "initial")
    return path


def commit(path: Path, message: str, files: dict[str, str] | None = None) -> None:
    for rel, text in (files or {}).items():
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return tmp_path_factory.mktemp("surfaces-repos")


@pytest.fixture(scope="module")
def shub(hub_factory, repos):
    hub = hub_factory.start("surfaces-browser")
    yield hub
    hub_factory.close(hub)
    remove_images_under(repos)


@pytest.fixture
def page(browser, shub, tmp_path):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    context.add_init_script(WATCH_PROGRESS)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    try:
        page.screenshot(path=str(tmp_path / "last.png"), full_page=True)  # kept for a failing test's report
    finally:
        context.close()


def sign_in(page, hub, next_url: str) -> None:
    goto(page, Client(hub.state_dir).login_link(next_url=next_url))


def bar_color(page) -> list[int]:
    """The colour the bar is drawn in at its left end, as the screen shows it (its pixels, read in a canvas)."""
    shot = base64.b64encode(page.locator("#bar").screenshot()).decode()
    return page.evaluate("""async (png) => {
        const image = new Image();
        image.src = "data:image/png;base64," + png;
        await image.decode();
        const canvas = Object.assign(document.createElement("canvas"), {width: image.width, height: image.height});
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0);
        return Array.from(context.getImageData(4, Math.floor(image.height / 2), 1, 1).data.slice(0, 3));
    }""", shot)


def watched(page) -> dict:
    return json.loads(page.evaluate("sessionStorage.getItem('localhub-watch')") or "{}")


def test_progress_moves_with_the_steps_and_the_clock_and_estimates_from_the_last_build(shub, repos, page):
    repo = make_repo(repos, "steps", STEPS.format(first=2))
    spec = git_spec(f"file://{repo}", "main")

    sign_in(page, shub, f"/v2/{spec}")
    page.wait_for_url(f"**/user/{shub.user}/steps/**", timeout=TIMEOUT_MS)
    first = watched(page)
    assert first["title"] == f"Starting {repo} at main — localhub"  # as mybinder.org says it, not the spec
    building = [d for d in first["detail"] if "step" in d]
    assert {"step 2 of 5", "step 3 of 5", "step 5 of 5"} <= {d.split(" · ")[-1] for d in building}, first["detail"]
    assert len(set(first["bar"])) >= 6 and first["bar"] == sorted(first["bar"]), first["bar"]
    elapsed = [c for c in first["clock"] if "elapsed" in c]
    assert len(elapsed) >= 3, first["clock"]  # the clock moved through the quiet sleeps
    assert not any("left" in c for c in first["clock"])  # no earlier build: no estimate

    # a newer commit of the same repository: its build has the first one's duration to go by
    commit(repo, "slower first step", {"Dockerfile": STEPS.format(first=3)})
    goto(page, f"{shub.url}/v2/{spec}")
    page.wait_for_url(f"**/user/{shub.user}/steps/**", timeout=TIMEOUT_MS)
    second = watched(page)
    assert any("left" in c for c in second["clock"]), second["clock"]


def test_a_failed_launch_is_one_red_state_and_retry_recovers(shub, repos, page):
    repo = make_repo(repos, "broken", BROKEN.format(command="false"))
    spec = git_spec(f"file://{repo}", "main")
    reason = "the Dockerfile's step `RUN false` failed (exit code 1)"

    sign_in(page, shub, f"/v2/{spec}")
    page.locator("#failure").wait_for(state="visible", timeout=TIMEOUT_MS)
    assert page.inner_text("#reason").lower() == reason.lower()
    assert page.inner_text("body").lower().count(reason.lower()) == 1  # once: not in the status, not in the log
    assert page.get_attribute("#status", "data-phase") == "failed"
    assert bar_color(page) == [179, 38, 30]  # the bar is red where the build stopped
    assert page.is_visible("#retry") and page.is_visible("#rebuild")

    # the whole log, a click away: served as text, and as a download
    with page.context.expect_page() as opened:
        page.click("#log-link")
    log = opened.value
    log.wait_for_load_state()
    assert "RUN false" in log.inner_text("body") and log.url.startswith(f"{shub.url}/services/localhub/api/")
    log.close()
    with page.expect_download() as download:
        page.click("#log-download")
    assert download.value.suggested_filename.endswith(".log")
    assert "RUN false" in Path(download.value.path()).read_text()

    # the researcher fixes the repository; Retry builds the fix and opens it
    commit(repo, "fixed", {"Dockerfile": BROKEN.format(command="true")})
    page.click("#retry")
    page.wait_for_url(f"**/user/{shub.user}/broken/**", timeout=TIMEOUT_MS)


def test_environments_page_lists_builds_from_a_link_and_removes_after_asking(shub, repos, page):
    repo = make_repo(repos, "only-built", STEPS.format(first=1))
    link = f"file://{repo}"
    other = make_repo(repos, "also-built", STEPS.format(first=0))  # two environments on one base image
    assert read_build(shub.url, git_spec(f"file://{other}", "main"), shub.token, "launch=0").last["phase"] == "built"
    sign_in(page, shub, "/services/localhub/environments")
    page.wait_for_url("**/services/localhub/environments")

    # build from a link: the progress page builds without starting a server, then leads back
    page.fill("#build-link", git_spec(link, "main"))
    page.click("#build")
    page.wait_for_url("**/services/localhub/v2/**launch=0**")
    assert page.title().startswith(f"Building {repo} at main")
    page.locator("#built").wait_for(state="visible", timeout=TIMEOUT_MS)
    page.click("#built a")
    page.wait_for_url("**/services/localhub/environments")

    row = page.locator("#environments tbody tr", has_text=str(repo))
    row.wait_for()
    assert "unused" in row.inner_text()
    disk = page.inner_text("#disk")
    report = Client(shub.state_dir).environments_report()
    envs = [e for e in report["environments"] if not e["building"]]
    # every environment is built on the 600 MB single-user image; that is counted once, not per environment
    assert report["disk"]["environments"] < sum(e["image_size"] for e in envs) - 500 * 10**6
    assert all(e["size"] < 50 * 10**6 and e["shared"] > 500 * 10**6 for e in envs), envs
    assert f"{len(envs)} environments take" in disk

    # its build log, a click away
    href = row.locator("a.log").get_attribute("href")
    assert "RUN echo" in httpx.get(shub.url + href, headers={"Authorization": f"token {shub.token}"}).text

    # remove asks first; "Keep it" (the default) keeps it
    image = row.get_attribute("data-image")
    row.locator("button", has_text="Remove").click()
    assert page.is_visible("#confirm") and "frees" in page.inner_text("#confirm-text")
    page.keyboard.press("Enter")  # the focused, safe button
    assert row.count() == 1
    row.locator("button", has_text="Remove").click()
    page.click("#confirm-remove")
    page.locator(f"#environments tbody tr[data-image='{image}']").wait_for(state="detached")
    assert image not in {e["image"] for e in Client(shub.state_dir).environments()}


def test_launch_form_copies_links_and_takes_a_file_or_url_path_and_a_profile(shub, page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, shub, "/services/localhub/")
    page.wait_for_url("**/services/localhub/")
    page.fill("#repository", "org/repo")
    page.fill("#path", "notebooks/intro.ipynb")  # a file, even under a folder named like a URL path
    page.wait_for_function("document.getElementById('link').value.includes('lab/tree/notebooks')")
    page.select_option("#path_kind", "url")
    assert page.inner_text("#path-label").startswith("URL")
    page.fill("#path", "voila/render/intro.ipynb")
    page.select_option("#profile", "small")
    expected = f"{shub.url}/v2/gh/org/repo/HEAD?urlpath=voila/render/intro.ipynb&profile=small"
    page.wait_for_function(f"document.getElementById('link').value === {json.dumps(expected)}")

    page.click("button[data-copy=link]")
    assert page.evaluate("navigator.clipboard.readText()") == expected
    page.click("button[data-copy=markdown]")
    assert page.evaluate("navigator.clipboard.readText()") == page.input_value("#markdown")
    assert f"]({expected})" in page.input_value("#markdown")
    page.click("button[data-copy=rst]")
    assert page.evaluate("navigator.clipboard.readText()").endswith(f":target: {expected}")
