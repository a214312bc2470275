"""Behaviour of the TUI that needs no daemon: the keyed table, the flows of each tab against the in-memory
client, the palette, help, errors, and quitting while a stream is open."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from rich.text import Text
from textual.app import App
from textual.widgets import Button, Input, RichLog, Static

from localhub.errors import LocalhubError, NotRunning
from localhub_tui import format as fmt
from localhub_tui.app import LOST, LocalhubApp
from localhub_tui.commands import LocalhubCommands
from localhub_tui.screens.help import HelpScreen
from localhub_tui.screens.logs import LogScreen
from localhub_tui.screens.new_server import NewServerScreen
from localhub_tui.screens.start_hub import StartHubScreen
from localhub_tui.widgets.confirm import ConfirmScreen
from localhub_tui.widgets.keyed_table import KeyedTable
from .helpers import until
from .fakes import INFO, NOW, FakeClient, FakeServersClient

pytestmark = pytest.mark.unit
SIZE = (120, 40)


def make_app(client, **kwargs) -> LocalhubApp:
    kwargs.setdefault("refresh_interval", 0.2)
    kwargs.setdefault("clock", lambda: NOW)
    kwargs.setdefault("opener", lambda url: None)
    return LocalhubApp("/nonexistent/state", client_factory=lambda: client, **kwargs)


def status_of(app: LocalhubApp, name: str) -> str:
    table = app.servers_view.table
    return table.value(name, "status").plain


def notes(app: App) -> list[tuple[str, str]]:
    return [(n.message, n.severity) for n in app._notifications]


# --- the keyed table ------------------------------------------------------------------------------

class TableApp(App):
    def compose(self):
        yield KeyedTable([("name", "Name"), ("n", "N")])


async def test_keyed_table_updates_by_key_and_keeps_the_cursor():
    async with TableApp().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(KeyedTable)
        table.sync([(k, (k, "1")) for k in ("a", "b", "c")])
        await pilot.pause()
        table.select_key("c")
        updates = []
        original = table.update_cell
        table.update_cell = lambda *a, **kw: (updates.append(a[:2]), original(*a, **kw))
        # a disappears, b changes, z is new: only b's cell is updated, c keeps the cursor
        table.sync([("b", ("b", "2")), ("c", ("c", "1")), ("z", ("z", "1"))])
        await pilot.pause()
        assert table.cursor_key == "c"
        assert updates == [("b", "n")]
        assert [r.key.value for r in table.ordered_rows] == ["b", "c", "z"]


async def test_filter_hides_rows_and_survives_refreshes():
    async with TableApp().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(KeyedTable)
        table.sync([(k, (Text(k), "x")) for k in ("alpha", "beta", "gamma")])
        await pilot.pause()
        table.select_key("gamma")
        table.filter = "AM"  # case-insensitive substring: gamma only
        table.sync([(k, (Text(k), "y")) for k in ("alpha", "beta", "gamma")])
        await pilot.pause()
        assert [r.key.value for r in table.ordered_rows] == ["gamma"]
        table.filter = ""
        await pilot.pause()
        assert table.row_count == 3 and table.cursor_key == "gamma"


# --- servers tab ----------------------------------------------------------------------------------

async def test_servers_tab_shows_the_hub_and_updates_in_place(fake):
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="four rows")
        table = app.servers_view.table
        table.select_key("workshop")
        fake._servers["workshop"].cpu_percent = 77.0
        del fake._servers["analysis"]
        await until(pilot, lambda: table.row_count == 3, what="the deleted server to go")
        assert table.cursor_key == "workshop"
        assert table.value("workshop", "cpu").plain == "77.0%"
        assert "3 servers, 1 running" in str(app.query_one("#hubbar", Static).render())


async def test_a_server_paused_on_a_lab_peer_is_shown_and_announced(fake):
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="four rows")
        fake._servers["workshop"].where = "desk-ana"
        fake._servers["workshop"].notice = "paused: the owner is back (input 3 s ago); …"
        table = app.servers_view.table
        await until(pilot, lambda: "paused" in str(table.value("workshop", "where")), what="the paused mark")
        assert str(table.value("workshop", "where")) == "desk-ana ⏸ paused"
        assert any("paused: the owner is back" in n.message for n in app._notifications)


async def test_hub_tab_shows_the_lab():
    pool = {"lab": "c1c3e2d60e4f9f33", "node": "a" * 16, "address": "10.0.0.2",
            "this_desktop": {"state": "off", "reason": "sharing is off", "guests": []},
            "peers": [{"name": "desk-bob._localhub._tcp.local.", "live": {
                "state": "idle", "slots": 2, "guests": [], "figures": {"free_cpus": 3.5, "mem_available": 6 * 2**30}}},
                {"name": "desk-eve._localhub._tcp.local.", "live": None, "error": "did not answer within 2 s"}],
            "away": [{"server": "big", "state": "running", "peer": {"name": "desk-bob"}}]}
    fake = FakeClient(info={**INFO, "pool": pool})
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "desk-bob" in _text(app, "#hub-pool"), what="the pool section")
        text = _text(app, "#hub-pool")
        assert "idle · 3.5 CPUs, 6.0 GiB free · 2 slot(s)" in text
        assert "unreachable — did not answer within 2 s" in text and "big on desk-bob — running" in text


def _text(app, selector: str) -> str:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(app.hub_view.query_one(selector, Static).content)
    return console.export_text()


async def test_stop_start_and_delete_go_through_the_client(fake):
    stop = fake.stop_server

    def slow_stop(name, timeout=60):  # a real stop takes a few seconds; polls happen meanwhile
        time.sleep(0.6)
        stop(name, timeout)

    fake.stop_server = slow_stop
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="rows")
        table = app.servers_view.table
        table.select_key("analysis")
        shown = []  # every status the row is given, however briefly
        update = table.update_cell
        table.update_cell = lambda row, column, value, **kw: (
            row == "analysis" and column == "status" and shown.append(value.plain),
            update(row, column, value, **kw))
        await pilot.press("x")
        await until(pilot, lambda: status_of(app, "analysis").endswith("stopped"), what="analysis stopped")
        assert shown == ["◌ stopping", "○ stopped"]  # no flash of the old status in between
        table.update_cell = update
        await pilot.press("s")
        await until(pilot, lambda: status_of(app, "analysis").endswith("running"), what="analysis running")
        assert ("stop_server", "analysis") in fake.calls and ("start_server", "analysis") in fake.calls

        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirm dialog")
        assert app.screen.focused.id == "cancel"
        body = str(app.screen.query_one(".dialog-body", Static).render())
        assert "home volume and every file in it" in body
        await pilot.press("enter")  # the default button: nothing is deleted
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="the dialog to close")
        assert not any(c[0] == "delete_server" for c in fake.calls)
        assert "analysis" in fake._servers

        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirm dialog")
        await pilot.click("#confirm")
        await until(pilot, lambda: "analysis" not in app.servers_view.table.keys, what="analysis deleted")
        assert ("delete_server", "analysis") in fake.calls


async def test_new_server_form_shows_refusals_inline_then_creates(fake):
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.info is not None, what="the hub info")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewServerScreen), what="the form")
        await pilot.press(*"thesis", "enter")
        error = app.screen.query_one("#new-error", Static)
        await until(pilot, lambda: "exists already" in str(error.render()), what="the inline refusal")
        name = app.screen.query_one("#new-name", Input)
        name.value = "fresh"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, NewServerScreen), what="the form to close")
        await until(pilot, lambda: app.servers_view.table.cursor_key == "fresh", what="cursor on the new server")
        assert ("create_server", "fresh", "default") in fake.calls


async def test_daemon_errors_become_notifications(fake):
    def refuse(name, timeout=60):
        raise LocalhubError("Server 'analysis' did not stop within 60 s [Errno 111].")

    fake.stop_server = refuse
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="rows")
        app.servers_view.table.select_key("analysis")
        await pilot.press("x")
        await until(pilot, lambda: ("Server 'analysis' did not stop within 60 s [Errno 111].", "error") in notes(app),
                    what="an error notification")
        assert app.is_running


async def test_unexpected_errors_are_one_sentence_too(fake):
    def broken(name, timeout=60):
        raise ValueError("Expecting value: line 1 column 1 (char 0)")

    fake.stop_server = broken
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="rows")
        app.servers_view.table.select_key("analysis")
        await pilot.press("x")
        await until(pilot, lambda: any(m.startswith("Unexpected error (ValueError") and s == "error"
                                       for m, s in notes(app)), what="the notification")
        assert app.is_running and "analysis" not in app.servers_view.pending


async def test_lost_hub_shows_a_banner_until_it_answers_again(fake):
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        banner = app.query_one("#banner", Static)
        await until(pilot, lambda: app.ever_connected, what="the first poll")
        assert not banner.display
        fake.fail = "The hub at http://127.0.0.1:8765 did not answer (ConnectError); is it still running?"
        await until(pilot, lambda: banner.display, what="the banner")
        assert str(banner.render()) == LOST
        fake.fail = None
        await until(pilot, lambda: not banner.display, what="the banner to go")


async def test_no_hub_offers_to_start_one():
    fake = FakeClient()
    started = {"done": False}

    def factory():
        if not started["done"]:
            raise NotRunning("No localhub is running for /x; start one with `localhub up`.")
        return fake

    command = [sys.executable, "-c", "import pathlib; print('localhub is running at http://x')"]
    app = LocalhubApp("/x", client_factory=factory, refresh_interval=0.2, clock=lambda: NOW, hub_command=command)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, StartHubScreen), what="the start dialog")
        started["done"] = True
        await pilot.press("enter")  # "Start the hub" has the focus
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="the hub's servers")
        assert not isinstance(app.screen, StartHubScreen)


async def test_failed_start_is_shown_in_plain_words():
    def factory():
        raise NotRunning("No localhub is running for /x; start one with `localhub up`.")

    command = [sys.executable, "-c", "import sys; print('localhub: Port 8765 (for the hub) is already in use "
               "by another program.'); sys.exit(1)"]
    app = LocalhubApp("/x", client_factory=factory, refresh_interval=5, clock=lambda: NOW, hub_command=command)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, StartHubScreen), what="the start dialog")
        await pilot.press("enter")
        output = app.screen.query_one("#start-output", Static)
        # the line streams in as the command prints it, then the failure shows it in plain words
        await until(pilot, lambda: str(app.screen.query_one("#start-hub", Button).label) == "Try again",
                    what="the failed start")
        assert str(output.render()).startswith("Port 8765") and "already in use" in str(output.render())


# --- launch tab -----------------------------------------------------------------------------------

async def test_launch_parses_as_you_type_and_streams_phases(fake):
    opened = []
    app = make_app(fake, opener=opened.append)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.info is not None, what="the hub info")
        await pilot.press("2")
        view = app.launch_view
        link = view.query_one("#link", Input)
        assert app.focused is link
        await pilot.press(*"https://example.org/nope")
        parse = view.query_one("#parse", Static)
        await until(pilot, lambda: "not a Binder link" in str(parse.render()), what="the parse error")
        assert view.query_one("#launch", Button).disabled
        before = sum(1 for c in fake.calls if c[0] == "parse_link")
        good = "https://mybinder.org/v2/gh/jupyterlab/jupyterlab-demo/HEAD?urlpath=lab"
        for end in range(1, len(good) + 1):  # a burst of keystrokes, each a Changed message
            link.value = good[:end]
        await until(pilot, lambda: view.parsed is not None, what="the parse")
        assert view.parsed["repo"] == "jupyterlab/jupyterlab-demo"
        parses = [c for c in fake.calls if c[0] == "parse_link"][before:]
        assert parses == [("parse_link", good)]  # debounced: one parse after the burst, not one per key

        await pilot.press("enter")
        await until(pilot, lambda: view.ready_url is not None, what="ready")
        log_text = "\n".join(str(line.text) for line in view.query_one("#build-log", RichLog).lines)
        assert "Step 7/12" in log_text
        assert ("launch", link.value, "default", False) in fake.calls
        await pilot.press("o")
        assert opened == [view.ready_url]


async def test_launch_and_environments_say_not_available_without_client_support():
    app = make_app(FakeServersClient())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.info is not None, what="the hub info")
        assert app.launch_view.query_one("#link", Input).disabled
        assert "not available" in str(app.launch_view.query_one("#parse", Static).render())
        empty = app.environments_view.query_one("#environments-empty", Static)
        assert empty.display and "not available yet" in str(empty.render())


# --- environments tab -----------------------------------------------------------------------------

async def test_environments_remove_asks_and_build_log_reads(fake):
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        table = app.environments_view.table
        await until(pilot, lambda: table.row_count == 2, what="environments")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LogScreen), what="the build log")
        await until(pilot, lambda: app.screen.lines >= 3, what="log lines")
        await pilot.press("escape")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirm dialog")
        await pilot.press("enter")  # Cancel
        await pilot.pause()
        assert table.row_count == 2
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirm dialog")
        await pilot.click("#confirm")
        await until(pilot, lambda: table.row_count == 1, what="the image removed")


# --- palette, help, filter, quitting --------------------------------------------------------------

async def test_palette_reaches_every_action(fake):
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4 and app.environments_view.environments,
                    what="data")
        titles = {e.title for e in app.palette_entries()}
        for expected in ("New server", "Start server 'thesis'", "Stop server 'analysis'",
                         "Delete server 'analysis'", "Open server 'analysis' in the browser",
                         "Show the log of server 'analysis'", "Launch a Binder link",
                         "Rebuild environment gh/jupyterlab/jupyterlab-demo/HEAD",
                         "Remove environment gh/jupyterlab/jupyterlab-demo/HEAD",
                         "Build log of gh/jupyterlab/jupyterlab-demo/HEAD", "Copy a sign-in link",
                         "Open a sign-in link in the browser", "Filter the current table", "Help: all keys",
                         "Go to Hub", "Refresh now"):
            assert expected in titles
        provider = LocalhubCommands(app.screen)
        hits = [hit async for hit in provider.search("stop analysis")]
        assert hits and str(hits[0].text) == "Stop server 'analysis'"
        hits[0].command()
        await until(pilot, lambda: ("stop_server", "analysis") in fake.calls, what="the palette's stop")


async def test_help_and_filter_keys(fake):
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="rows")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.press("escape")
        await pilot.press("slash", *"work")
        await until(pilot, lambda: app.servers_view.table.row_count == 1, what="the filter")
        await pilot.press("enter")
        assert app.focused is app.servers_view.table
        await pilot.press("slash", "escape")
        assert app.servers_view.table.row_count == 4


async def test_quitting_does_not_wait_for_an_open_log_stream(fake):
    never = threading.Event()

    def quiet_log(name, follow=False, tail=200):
        yield "one line, then silence"
        never.wait()  # a quiet container: the stream blocks in a read

    fake.server_logs = quiet_log
    app = make_app(fake)
    started = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="rows")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen.lines == 1, what="the log")
        await pilot.press("escape")
        await pilot.press("q")
    assert time.monotonic() - started < 10


# --- formatting -----------------------------------------------------------------------------------

def test_formatting():
    assert fmt.size(5392) == "5.3 KiB" and fmt.size(None) == fmt.DASH
    assert fmt.storage(int(1.95 * 2**30), 2 * 2**30) == ("1.9 GiB / 2.0 GiB", True)
    assert fmt.duration(59) == "59 s" and fmt.duration(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert fmt.since("2026-05-04T11:53:00Z", NOW) == "7 min"
    assert fmt.since("2026-05-04T11:53:00.123456+00:00", NOW) == "6 min"
    assert fmt.ago(None, NOW) == fmt.DASH
    assert fmt.short_spec("gh/binder-examples/requirements/HEAD") == "gh:requirements@HEAD"
    assert fmt.short_spec("local/%2Fhome%2Fada%2Fmy-analysis/HEAD") == "local:my-analysis@HEAD"
    assert fmt.short_spec("git/https%3A%2F%2Fgitlab.com%2Fa%2Fb.git/main") == "git:b@main"
    assert fmt.short_spec("gh/a/b/HEAD") == "gh/a/b/HEAD"


async def test_a_poll_asks_for_servers_and_environments_side_by_side(fake):
    """Each is a request to the daemon, which asks the hub and the engine: a poll waits for the slower one
    only. The fake's servers() answers once environments() has been asked too, unless asked one after the
    other (then it gives up waiting after 5 s)."""
    environments_asked, seen = threading.Event(), []
    servers, environments = fake.servers, fake.environments

    def slow_servers():
        seen.append(environments_asked.wait(5))
        return servers()

    def asked_environments():
        environments_asked.set()
        return environments()

    fake.servers, fake.environments = slow_servers, asked_environments
    app = make_app(fake, refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ever_connected, what="the first poll", timeout=15)
        assert app.environments_view.environments  # the environments arrived with the servers
    assert seen[:1] == [True]


async def test_a_poll_asks_once_when_the_client_lists_both(fake):
    """A client with `listing` (the real one) gets the servers and the environments in one request: the daemon
    makes both from one answer of JupyterHub, whose cost grows with every server. Neither is asked apart."""
    asked = []

    def listing():
        asked.append("listing")
        return fake.servers(), fake.environments(), None

    fake.listing = listing
    app = make_app(fake, refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ever_connected, what="the first poll", timeout=15)
        assert app.environments_view.environments and app.servers_view.servers
    polls = [call[0] for call in fake.calls if call[0] in ("servers", "environments")]
    assert asked == ["listing"] and polls == ["servers", "environments"]  # both asked inside the one listing()


async def test_environments_a_listing_could_not_list_are_said_beside_the_servers(fake):
    fake.listing = lambda: (fake.servers(), None, "The environments could not be listed (APIError).")
    app = make_app(fake, refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ever_connected, what="the first poll", timeout=15)
        assert app.servers_view.servers
        await pilot.pause()
        shown = app.environments_view.query_one("#environments-empty").render()
    assert "could not be listed" in str(shown)
