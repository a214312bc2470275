"""A new user's path in a real browser, on JupyterHub's own pages: the sign-in link, then a named server open
in JupyterLab; and "Add New Server" with its choice of profile (the spawn page's options form). One browser
for the module, a fresh context (no cookies) per test."""

from __future__ import annotations

import json

import pytest

from tests.support.browser import goto, open_app

pytestmark = [pytest.mark.browser, pytest.mark.docker]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def profile_of(hub, name: str) -> str | None:
    servers = json.loads(hub.cli("servers", "ls", "--json").stdout)
    return next(s["profile"] for s in servers if s["name"] == name)


def test_sign_in_link_then_named_server_in_jupyterlab(hub, page, tmp_path):
    hub.cli("servers", "new", "first-steps")
    link = hub.cli("login").stdout.strip()

    goto(page, link)
    page.wait_for_url("**/hub/home")
    assert "first-steps" in page.content()

    try:
        open_app(page, f"{hub.url}/user/{hub.user}/first-steps/lab", "#jp-main-dock-panel")
        assert f"/user/{hub.user}/first-steps/lab" in page.url
        # the project's image never asks about (nor fetches) Jupyter news: the hub is often offline. JupyterLab
        # serves its overrides.json as the setting's defaults
        schema = page.evaluate("""async () => {
            const url = location.pathname.split("/lab")[0] + "/lab/api/settings/@jupyterlab/apputils-extension:notification";
            const xsrf = decodeURIComponent((document.cookie.match(/_xsrf=([^;]+)/) || ["", ""])[1]);
            return (await (await fetch(url, {headers: {"X-XSRFToken": xsrf}})).json()).schema.properties;
        }""")
        assert schema["fetchNews"]["default"] == "false" and schema["checkForUpdates"]["default"] is False
        assert page.get_by_text("official Jupyter news").count() == 0
    except Exception:
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))
        raise
    finally:
        hub.cli("servers", "delete", "first-steps", "--yes")


def test_add_new_server_offers_the_profiles(hub, page, tmp_path):
    name = "chosen-size"
    try:
        goto(page, hub.cli("login").stdout.strip())
        page.wait_for_url("**/hub/home")
        page.fill(".new-server-name", name)
        page.click(".new-server-btn")  # JupyterHub 6 adds the row; its start button opens the spawn page
        page.click(f"#start-{name}")

        # JupyterHub's spawn page with one card per profile, the hub's default chosen
        page.wait_for_url(f"**/hub/spawn/{hub.user}/{name}")
        cards = page.locator("#localhub-profiles label.localhub-profile")
        assert {c.split(" — ")[0] for c in cards.all_inner_texts()} >= {"default", "small", "large"}
        assert page.is_checked("#profile-default")
        assert "1 CPU" in page.inner_text("label[for=profile-default]")

        page.check("#profile-small")
        page.click("#spawn_form button[type=submit]")
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        assert profile_of(hub, name) == "small"

        # started again from the home page, the form shows the server's own profile chosen
        hub.cli("servers", "stop", name)
        goto(page, f"{hub.url}/hub/spawn/{hub.user}/{name}")
        assert page.is_checked("#profile-small")
    except Exception:
        page.screenshot(path=str(tmp_path / "spawn-form.png"), full_page=True)
        raise
    finally:
        hub.cli("servers", "delete", name, "--yes", check=False)
