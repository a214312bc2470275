"""Pilot tests against a real localhub (DockerSpawner on this machine's engine): what the Servers tab shows
and does is what the daemon holds. Every container, volume and network carries the test label and is
removed at the end (tests/support/hubs.py)."""

from __future__ import annotations

import re

import time

import pytest
from textual.widgets import Input, Static

from localhub.errors import LocalhubError
from localhub_tui.app import LOST, LocalhubApp
from localhub_tui.screens.logs import LogScreen
from localhub_tui.screens.new_server import NewServerScreen
from localhub_tui.screens.start_hub import StartHubScreen
from localhub_tui.widgets.confirm import ConfirmScreen

from .helpers import delete_all_servers, until, volume_exists

pytestmark = pytest.mark.docker
SIZE = (120, 40)
SPAWN = 90  # seconds a server may take to start on a busy machine (about 5 s when idle)


def app_for(hub, **kwargs) -> LocalhubApp:
    kwargs.setdefault("refresh_interval", 0.5)
    kwargs.setdefault("opener", lambda url: None)
    return LocalhubApp(hub.state_dir, **kwargs)


def create(hub, name: str) -> None:
    for _ in hub.client.create_server(name):
        pass


def status(app: LocalhubApp, name: str) -> str | None:
    table = app.servers_view.table
    if name not in [r.key.value for r in table.ordered_rows]:
        return None
    return table.value(name, "status").plain


def daemon_status(hub, name: str) -> str | None:
    try:
        return hub.client.server(name).status
    except LocalhubError:
        return None


async def test_table_shows_a_server_created_through_the_client(live):
    create(live, "via-client")
    app = app_for(live)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: status(app, "via-client") == "● running", what="the row")
        table = app.servers_view.table
        assert table.value("via-client", "profile") == "default"
        assert table.value("via-client", "where") == "local"
        # the home's measured use, as a share of the default profile's 2 GiB cap, once the daemon's
        # background watch has measured the new home (its meter is a container of its own: seconds under load)
        measured = re.compile(r"[0-9.]+ (B|KiB|MiB) +[0-9]+%")
        await until(pilot, lambda: measured.fullmatch(table.value("via-client", "storage").plain.strip()),
                    what="the home's measured use in the storage column")


async def test_new_server_form_creates_a_running_server(live):
    app = app_for(live)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.info is not None, what="the hub info")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewServerScreen), what="the form")
        await pilot.press(*"Thesis_2", "enter")
        error = app.screen.query_one("#new-error", Static)
        await until(pilot, lambda: str(error.render()) != "", what="the hub's refusal")
        assert "is not allowed" in str(error.render())  # the daemon's name policy, in its own words
        app.screen.query_one("#new-name", Input).value = "from-form"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, NewServerScreen), timeout=SPAWN,
                    what="the form to close once the server runs")
        await until(pilot, lambda: status(app, "from-form") == "● running", what="a running row")
        assert app.servers_view.table.cursor_key == "from-form"
    assert live.client.server("from-form").ready


async def test_stop_then_start(live):
    create(live, "toggle")
    app = app_for(live)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: status(app, "toggle") == "● running", what="the row")
        app.servers_view.table.select_key("toggle")
        await pilot.press("x")
        await until(pilot, lambda: status(app, "toggle") == "○ stopped", timeout=SPAWN, what="stopped")
        assert daemon_status(live, "toggle") == "stopped"
        await pilot.press("s")
        await until(pilot, lambda: status(app, "toggle") == "● running", timeout=SPAWN, what="running again")
        assert live.client.server("toggle").ready


async def test_delete_asks_first_and_cancel_is_the_default(live):
    create(live, "doomed")
    assert volume_exists(live, "doomed")
    app = app_for(live)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: status(app, "doomed") is not None, what="the row")
        app.servers_view.table.select_key("doomed")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        assert app.screen.focused.id == "cancel"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="the dialog to close")
        await pilot.pause(1.5)  # several polls: nothing happens
        assert daemon_status(live, "doomed") == "running" and volume_exists(live, "doomed")

        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("tab", "enter")  # on purpose: move to "Delete server and files"
        await until(pilot, lambda: status(app, "doomed") is None, timeout=SPAWN, what="the row to go")
    assert daemon_status(live, "doomed") is None
    assert not volume_exists(live, "doomed")


async def test_cursor_stays_on_its_server_across_refreshes(live):
    for name in ("aa", "bb", "cc"):
        create(live, name)
    app = app_for(live, refresh_interval=0.3)
    async with app.run_test(size=SIZE) as pilot:
        table = app.servers_view.table
        await until(pilot, lambda: table.row_count == 3, what="three rows")
        await pilot.press("down", "down")
        assert table.cursor_key == "cc"
        polls = app._polls
        await until(pilot, lambda: app._polls >= polls + 5, what="five refreshes")
        assert table.cursor_key == "cc" and table.cursor_row == 2
        live.client.delete_server("aa")  # a row above the cursor goes away
        await until(pilot, lambda: table.row_count == 2, what="aa to go")
        assert table.cursor_key == "cc" and table.cursor_row == 1


async def test_log_screen_streams_the_container_log(live):
    create(live, "chatty")
    app = app_for(live)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: status(app, "chatty") == "● running", what="the row")
        app.servers_view.table.select_key("chatty")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen.lines >= 3, timeout=60,
                    what="log lines")
        text = "\n".join(line.text for line in app.screen.query_one("RichLog").lines)
        assert "Jupyter" in text or "ServerApp" in text
        await pilot.press("escape")
        await pilot.press("q")  # the followed stream is still blocked in a read: quitting must not wait
    assert time.monotonic() - started < 60


async def test_lost_connection_banner_comes_and_goes(spare_hub):
    spare_hub.up()
    app = app_for(spare_hub)
    async with app.run_test(size=SIZE) as pilot:
        banner = app.query_one("#banner", Static)
        await until(pilot, lambda: app.ever_connected, what="the first poll")
        assert not banner.display
        spare_hub.down()
        await until(pilot, lambda: banner.display, what="the banner")
        assert str(banner.render()) == LOST
        spare_hub.up()  # same state dir and port: the poll finds it again
        await until(pilot, lambda: not banner.display, timeout=60, what="the banner to go")


async def test_start_dialog_starts_a_hub(spare_hub, monkeypatch):
    # the dialog runs `localhub up --detach --state-dir DIR`; the port and test label come from the environment
    monkeypatch.setenv("LOCALHUB_CONFIG_DIR", str(spare_hub.config_dir))
    monkeypatch.setenv("LOCALHUB_PORT", str(spare_hub.port))
    monkeypatch.delenv("LOCALHUB_STATE_DIR", raising=False)
    app = app_for(spare_hub)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, StartHubScreen), what="the offer to start a hub")
        await pilot.press("enter")
        await until(pilot, lambda: app.ever_connected and not app.lost, timeout=180, what="the hub to answer")
        assert app.info["url"].endswith(f":{spare_hub.port}")
        assert not isinstance(app.screen, StartHubScreen)


async def test_launch_a_repository_from_the_launch_tab(live, tmp_path):
    from tests.support.binder import CaseRepo, remove_images_under

    repo = CaseRepo("dockerfile-basic", tmp_path)
    app = app_for(live)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.info is not None, what="the hub info")
            await pilot.press("2")
            view = app.launch_view
            await pilot.press(*str(repo.path))
            await until(pilot, lambda: view.parsed is not None, what="the parse of a local directory")
            assert view.parsed["provider"] == "local"
            await pilot.press("enter")
            await until(pilot, lambda: not view.running, timeout=600, what="the launch to finish")
            log = "\n".join(line.text for line in view.query_one("#build-log").lines)
            assert view.ready_url, f"no URL; phases {view.phases}; log:\n{log}"
            assert view.phases[-1] == "ready" and "building" in view.phases
            assert view.query_one("#launch-progress").progress == 100
            assert "Ready:" in str(view.query_one("#ready").render())

            # the new server is on the Servers tab, and its environment on the Environments tab
            table = app.servers_view.table
            await until(pilot, lambda: any("dockerfile-basic" in table.value(k, "environment").plain
                                           for k in table.keys), what="the launched server's row")
            await pilot.press("3")
            envs = app.environments_view
            await until(pilot, lambda: any(repo.name in (e.get("spec") or "") and e.get("servers")
                                           for e in envs.environments.values()), what="the environment in use")
            image = next(i for i, e in envs.environments.items() if repo.name in (e.get("spec") or ""))
            envs.table.select_key(image)
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen.lines > 3,
                        what="the stored build log")
    finally:
        delete_all_servers(live)
        remove_images_under(tmp_path)


def test_the_daemon_reports_what_the_details_pane_shows(live):
    """Limits, container, volume and a usage history that grows every few seconds (usage.py's sampler)."""
    create(live, "details")
    deadline = time.monotonic() + 60
    server = live.client.server("details")
    while len(server.usage_history or []) < 2 and time.monotonic() < deadline:
        time.sleep(1)
        server = live.client.server("details")
    assert len(server.usage_history) >= 2, server
    (t0, _, m0), (t1, cpu1, m1) = server.usage_history[-2:]
    assert t0 < t1 and m0 > 0 and m1 > 0 and cpu1 is not None
    assert (server.cpu_limit, server.memory_limit) == (1.0, 2_000_000_000)  # the default profile
    assert server.container and server.container_state == "running" and server.started
    assert volume_exists(live, "details") and server.volume.endswith("--details")
