"""A new user's path in a real browser: the sign-in link, then a named server open in JupyterLab."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.docker]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        yield page
        browser.close()


def test_sign_in_link_then_named_server_in_jupyterlab(hub, page, tmp_path):
    hub.cli("servers", "new", "first-steps")
    link = hub.cli("login").stdout.strip()

    page.goto(link)
    page.wait_for_url("**/hub/home")
    assert "first-steps" in page.content()

    try:
        page.goto(f"{hub.url}/user/{hub.user}/first-steps/lab")
        page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
        assert f"/user/{hub.user}/first-steps/lab" in page.url
    except Exception:
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))
        raise
    finally:
        hub.cli("servers", "delete", "first-steps", "--yes")
