"""SVG snapshots of every screen, made repeatable: a fixed terminal size, a fixed clock, fixed data from
the in-memory client, no cursor blink, no animations, no toasts. They test rendering only; behaviour
against a real daemon is in test_live.py. Update with `pytest tests/tui --snapshot-update`."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from localhub.errors import NotRunning
from localhub_tui.app import LocalhubApp
from localhub_tui.screens.logs import LogScreen
from localhub_tui.screens.new_server import NewServerScreen
from localhub_tui.screens.start_hub import StartHubScreen
from localhub_tui.widgets.confirm import ConfirmScreen
from .helpers import until
from .fakes import NOW, FakeClient, FakeServersClient

pytestmark = pytest.mark.unit
SIZE = (120, 40)
STATE = "/home/ada/.local/share/localhub"
LINK = "https://mybinder.org/v2/gh/jupyterlab/jupyterlab-demo/HEAD?urlpath=lab"


def snapshot_app(client=None, factory=None) -> LocalhubApp:
    client = client or FakeClient()
    app = LocalhubApp(STATE, client_factory=factory or (lambda: client), refresh_interval=3600,
                      clock=lambda: NOW, opener=lambda url: None)
    app.animation_level = "none"
    return app


async def settle(pilot) -> None:
    """Wait for the first poll, then freeze what moves: blinking cursors, toasts, animations."""
    app = pilot.app
    await until(pilot, lambda: app.ever_connected or app.lost or isinstance(app.screen, StartHubScreen),
                what="the first poll")
    await pilot.pause()
    for screen in app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False
    app.clear_notifications()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def test_servers(snap_compare):
    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=settle)


def test_servers_filtered(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("slash", *"work")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_delete_confirm(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        pilot.app.servers_view.table.select_key("thesis")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the dialog")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_new_server_refused_inline(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, NewServerScreen), what="the form")
        await pilot.press(*"thesis", "enter")
        await until(pilot, lambda: "exists" in str(pilot.app.screen.query_one("#new-error").render()),
                    what="the refusal")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_server_log(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, LogScreen) and pilot.app.screen.lines == 5,
                    what="the log")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_launch_ready(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("2")
        view = pilot.app.launch_view
        view.query_one("#link", Input).value = LINK
        await until(pilot, lambda: view.parsed is not None, what="the parse")
        await pilot.press("enter")
        await until(pilot, lambda: view.ready_url and not view.running, what="ready")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_launch_failed(snap_compare):
    """One red state: the bar red where the build stopped, the reason once (in the log, not in a toast over it),
    and the keys that recover: r Retry, b Rebuild, l the whole build log."""
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("2")
        view = pilot.app.launch_view
        view.query_one("#link", Input).value = "https://mybinder.org/v2/gh/org/broken/HEAD"
        await until(pilot, lambda: view.parsed is not None, what="the parse")
        await pilot.press("enter")
        await until(pilot, lambda: view.failed and not view.running, what="the failure")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_launch_parse_error(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("2")
        view = pilot.app.launch_view
        view.query_one("#link", Input).value = "https://example.org/not-a-repo"
        await until(pilot, lambda: "not a Binder link" in str(view.query_one("#parse").render()),
                    what="the parse error")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_launch_not_available_yet(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)

    assert snap_compare(snapshot_app(FakeServersClient()), terminal_size=SIZE, run_before=run_before)


def test_environments(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_hub(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_lost_hub_banner(snap_compare):
    client = FakeClient()

    async def run_before(pilot):
        await settle(pilot)
        client.fail = "The hub at http://127.0.0.1:8765 did not answer (ConnectError)."
        pilot.app.poll()
        await until(pilot, lambda: pilot.app.lost is not None, what="the banner")
        await settle(pilot)

    assert snap_compare(snapshot_app(client), terminal_size=SIZE, run_before=run_before)


def test_start_hub_dialog(snap_compare):
    def factory():
        raise NotRunning(f"No localhub is running for {STATE}; start one with `localhub up`.")

    async def run_before(pilot):
        await until(pilot, lambda: isinstance(pilot.app.screen, StartHubScreen), what="the dialog")
        await settle(pilot)

    assert snap_compare(snapshot_app(factory=factory), terminal_size=SIZE, run_before=run_before)
