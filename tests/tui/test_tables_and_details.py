"""Issue 13's TUI items against the in-memory client: row order under the filter and the sort, columns
that collapse at 80×24 with `q Quit` kept, the details pane, the palette offering only what a server's
state allows, saving a log, the start dialog's port, pruning and ordering environments. Against a real
hub in a real terminal: test_terminal.py."""

from __future__ import annotations

import sys

import pytest
from rich.text import Text
from textual.app import App
from textual.widgets import Button, Input, Static

from localhub.errors import NotRunning
from localhub_tui.app import LocalhubApp
from localhub_tui.screens.logs import LogScreen
from localhub_tui.screens.start_hub import StartHubScreen, port_error
from localhub_tui.widgets.charts import bar, chart_rows, sparkline
from localhub_tui.widgets.confirm import ConfirmScreen
from localhub_tui.widgets.keyed_table import Column, KeyedTable
from localhub_tui.widgets.save_dialog import SaveDialog, save_new_file
from .fakes import ENVIRONMENTS, NOW, FakeClient, server
from .helpers import until

pytestmark = pytest.mark.unit
WIDE, SMALL = (120, 40), (80, 24)


def make_app(client, **kwargs) -> LocalhubApp:
    kwargs.setdefault("refresh_interval", 0.2)
    return LocalhubApp("/nonexistent/state", client_factory=lambda: client, clock=lambda: NOW,
                       opener=lambda url: None, **kwargs)


class TableApp(App):
    def compose(self):
        yield KeyedTable([Column("name", "Name"), Column("n", "N", descending=True)])


# --- order ----------------------------------------------------------------------------------------

async def test_the_filter_keeps_the_rows_in_their_order():
    """Before: a row hidden by the filter came back at the bottom when the filter was cleared."""
    async with TableApp().run_test(size=WIDE) as pilot:
        table = pilot.app.query_one(KeyedTable)
        rows = [(k, (Text(k), str(i))) for i, k in enumerate(("alpha", "beta", "gamma", "delta"))]
        table.sync(rows)
        await pilot.pause()
        table.filter = "ta"  # beta, delta
        table.sync(rows)
        await pilot.pause()
        table.filter = ""
        table.sync(rows)
        await pilot.pause()
        assert table.shown_keys == ["alpha", "beta", "gamma", "delta"]


async def test_sort_by_any_column_is_stable_and_keeps_the_cursor():
    async with TableApp().run_test(size=WIDE) as pilot:
        table = pilot.app.query_one(KeyedTable)
        table.sync([("a", ("a", "2"), ("a", 2)), ("b", ("b", "10"), ("b", 10)), ("c", ("c", "2"), ("c", 2)),
                    ("d", ("d", "–"), ("d", None))])
        await pilot.pause()
        table.select_key("c")
        await pilot.press(">")  # by Name
        assert table.sort_column == "name" and table.shown_keys == ["a", "b", "c", "d"]
        await pilot.press(">")  # by N: figures biggest first, equal ones in data order, unknown last
        assert table.shown_keys == ["b", "a", "c", "d"] and table.cursor_key == "c"
        assert str(table.columns[table.shown_columns[1]].label) == "N ▼"
        await pilot.press("I")  # reversed: smallest first, unknown still last
        assert table.shown_keys == ["a", "c", "b", "d"]
        await pilot.press("<", "<")  # back to the data's own order
        assert table.sort_column is None and table.shown_keys == ["a", "b", "c", "d"]
        await pilot.press("g")
        assert table.cursor_key == "a"
        await pilot.press("j", "j")
        assert table.cursor_key == "c"
        await pilot.press("G")
        assert table.cursor_key == "d"
        await pilot.press("k")
        assert table.cursor_key == "c"


async def test_sorting_the_servers_by_memory_uses_the_bytes(fake):
    app = make_app(fake)
    async with app.run_test(size=WIDE) as pilot:
        table = app.servers_view.table
        await until(pilot, lambda: table.row_count == 4, what="four rows")
        table.sort_by("memory")
        await pilot.pause()
        # 612 MiB, 180 MiB, then the two without a figure in data order
        assert table.shown_keys == ["analysis", "workshop", "thesis", "scratch"]


# --- 80×24 ----------------------------------------------------------------------------------------

async def test_at_80_columns_columns_collapse_by_priority_and_quit_stays_in_the_footer(fake):
    """Before: at 80 columns the table was cut after Memory and the footer lost `q Quit`."""
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        table = app.servers_view.table
        await until(pilot, lambda: table.row_count == 4, what="four rows")
        await pilot.pause()
        shown = table.shown_columns
        assert shown[:2] == ["name", "status"] and {"cpu", "memory", "idle"} <= set(shown)
        assert "profile" not in shown and "where" not in shown
        assert table.virtual_size.width <= table.scrollable_content_region.width  # nothing cut off
        footer = app.screen.query_one("KeyFooter")

        def quit_key():
            return next((k for k in footer.query("FooterKey") if k.key == "q"), None)

        # laid out (a width) only after a refresh of the screen: under load that comes a moment after the keys
        await until(pilot, lambda: quit_key() is not None and quit_key().region.width > 0,
                    what="the footer's quit key, laid out")
        assert quit_key().region.right <= SMALL[0]
        await pilot.resize_terminal(*WIDE)
        await pilot.pause()
        assert "environment" in table.shown_columns and table.cursor_key == table.shown_keys[0]


# --- the servers tab's small defects --------------------------------------------------------------

async def test_a_stopped_server_is_not_idle_and_the_palette_offers_what_its_state_allows(fake):
    """Before: 'Idle for' of a stopped server read a time, and the palette offered 'Start' for a running
    server (and 'Stop' for a stopped one)."""
    app = make_app(fake)
    async with app.run_test(size=WIDE) as pilot:
        table = app.servers_view.table
        await until(pilot, lambda: table.row_count == 4, what="four rows")
        assert table.value("thesis", "idle").plain == "–"
        assert table.value("analysis", "idle").plain == "7 min"
        titles = {e.title for e in app.palette_entries()}
        assert "Start server 'thesis'" in titles and "Stop server 'thesis'" not in titles
        assert "Start server 'analysis'" not in titles and "Stop server 'analysis'" in titles
        assert "Open server 'thesis' in the browser" not in titles
        assert "Shell in server 'analysis'" in titles and "Shell in server 'thesis'" not in titles
        assert "Sort servers by Memory" in titles and "Prune unused environments" in titles


async def test_the_details_pane_follows_the_cursor_and_charts_the_history(fake):
    fake._servers["analysis"] = server("analysis", cpu_percent=80.0, memory_used=1_000_000_000)
    app = make_app(fake)
    async with app.run_test(size=SMALL) as pilot:
        view = app.servers_view
        await until(pilot, lambda: view.table.row_count == 4, what="four rows")
        assert not view.details.display  # 24 lines: the table first; Enter asks for the details
        await pilot.press("enter")
        chart = view.details.query_one("#cpu-chart")
        await until(pilot, lambda: view.details.display and chart.size.width > 30 and chart.size.height == 5,
                    what="the details pane laid out")
        facts = _plain(view.details.query_one("#details-facts", Static))
        assert "localhub-1a2b3c4d-ada--analysis (running)" in facts and "1 CPU · 1.9 GiB memory" in facts
        assert "48.0 MiB of 2.0 GiB, 2%" in facts
        cpu = _plain(view.details.query_one("#cpu-chart"))
        assert cpu.startswith("CPU 80.0% of 1 CPU · last 5 min")
        assert "█" in cpu  # the saw-tooth up to 80 % of the one CPU allowed
        await pilot.press("j")
        await until(pilot, lambda: view.details.border_title.startswith("thesis"), what="the next server")
        assert "stopped" in _plain(view.details.query_one("#details-facts", Static))
        await pilot.press("enter")
        assert not view.details.display


def _plain(widget) -> str:
    from rich.console import Console

    rendered = widget.render()
    if isinstance(rendered, Text):
        return rendered.plain
    console = Console(width=200, record=True)
    console.print(widget.content if isinstance(widget, Static) else rendered)
    return console.export_text()


def test_pictures_are_drawn_against_the_limit():
    assert sparkline([None, 0.0, 50.0, 100.0], 5, 100.0).plain == "  ▁▄█"
    assert chart_rows([100.0, 50.0, 0.0], 3, 2, 100.0) == ["█  ", "██▁"]
    assert bar(50, 100, 10).plain == "━━━━━━━━━━" and bar(50, 100, 10).spans[-1].start == 5
    assert bar(95, 100, 4).style == "bold red"


# --- logs -----------------------------------------------------------------------------------------

def test_saving_never_replaces_a_file(tmp_path):
    target = tmp_path / "server.log"
    assert save_new_file(target, "one\n") is None
    assert "exists already" in save_new_file(target, "two\n")
    assert target.read_text() == "one\n"
    assert "There is no folder" in save_new_file(tmp_path / "nowhere" / "x.log", "")


async def test_a_log_is_saved_where_the_user_says(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="four rows")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen.lines == 5, what="the log")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SaveDialog), what="the save dialog")
        path = app.screen.query_one("#save-path", Input)
        assert path.value.startswith(str(tmp_path / "server-analysis-"))
        path.value = "kept.log"
        (tmp_path / "kept.log").write_text("mine\n")
        await pilot.press("enter")
        error = app.screen.query_one("#save-error", Static)
        await until(pilot, lambda: "exists already" in _plain(error), what="the refusal")
        assert (tmp_path / "kept.log").read_text() == "mine\n"
        path.value = "analysis.log"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LogScreen), what="back to the log")
        lines = (tmp_path / "analysis.log").read_text().splitlines()
        assert len(lines) == 5 and "Jupyter Server 2.14.2 is running" in lines[2] and lines[-1] == "— end —"


# --- the start dialog's port ----------------------------------------------------------------------

async def test_the_start_dialog_chooses_a_port(tmp_path):
    """Before: the hub always started on the default port."""
    fake = FakeClient()
    argv = tmp_path / "argv"  # what the stand-in for `localhub up` was given; the hub "runs" once it exists

    def factory():
        if not argv.exists():
            raise NotRunning("No localhub is running for /x; start one with `localhub up`.")
        return fake

    command = [sys.executable, "-c", f"import sys, pathlib; pathlib.Path({str(argv)!r}).write_text(' '.join(sys.argv[1:]))"]
    app = LocalhubApp("/x", client_factory=factory, refresh_interval=0.2, clock=lambda: NOW, hub_command=command)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, StartHubScreen) and app.screen.query("#start-port"),
                    what="the start dialog")
        port = app.screen.query_one("#start-port", Input)
        port.value = "80"
        await pilot.click("#start-hub")
        await until(pilot, lambda: "1024 to 65533" in _plain(app.screen.query_one("#start-port-error", Static)),
                    what="the port refused")
        assert not argv.exists()
        port.value = "23456"
        # pressed, not clicked: the refusal's line above has just moved the button, and a click aims where it was
        app.screen.query_one("#start-hub", Button).press()
        await until(pilot, lambda: app.servers_view.table.row_count == 4, what="the hub's servers")
        assert argv.read_text() == "--port 23456"
    assert port_error("") is None and port_error("8765") is None and "number" in port_error("http")


# --- environments ---------------------------------------------------------------------------------

async def test_environments_newest_build_first_and_prune_removes_only_unused():
    """Before: environments were listed in the engine's order, not by build time."""
    newest = {**ENVIRONMENTS[1], "image": "localhub-env/new:1", "spec": "gh/a/new/HEAD", "built": "2026-05-04T11:00:00Z"}
    fake = FakeClient(environments=[ENVIRONMENTS[1], ENVIRONMENTS[0], newest])
    app = make_app(fake)
    async with app.run_test(size=WIDE) as pilot:
        view = app.environments_view
        await until(pilot, lambda: view.table.row_count == 3, what="three environments")
        await pilot.press("3")
        assert view.table.shown_keys == ["localhub-env/new:1", ENVIRONMENTS[0]["image"], ENVIRONMENTS[1]["image"]]
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert "2 environment images" in _plain(app.screen.query(Static)[1])
        await pilot.press("enter")  # Cancel has the focus: nothing goes
        assert not [c for c in fake.calls if c[0] == "remove_environment"]
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.click("#confirm")
        await until(pilot, lambda: view.table.row_count == 1, what="the unused ones to go")
        assert {c[1] for c in fake.calls if c[0] == "remove_environment"} == {newest["image"], ENVIRONMENTS[1]["image"]}
        assert view.table.shown_keys == [ENVIRONMENTS[0]["image"]]  # used by 'workshop': kept


# --- a desktop that fills up ----------------------------------------------------------------------

async def test_a_refresh_passes_over_stopped_servers_that_did_not_change(monkeypatch):
    """A full desktop holds mostly stopped servers: a poll that finds them as they were makes no cells for them
    (a running server's row shows the clock's idle time: it is made anew), and one that finds a stopped server
    changed shows the change."""
    from localhub_tui.screens import servers as view

    made = []
    cells = view.server_cells
    monkeypatch.setattr(view, "server_cells", lambda s, *args: made.append(s.name) or cells(s, *args))
    fake = FakeClient(servers=[server("busy"), server("old", status="stopped"), server("older", status="stopped")])
    app = make_app(fake, refresh_interval=3600)
    async with app.run_test(size=WIDE) as pilot:
        table = app.servers_view.table
        await until(pilot, lambda: table.row_count == 3, what="three rows")
        assert sorted(made) == ["busy", "old", "older"]
        made.clear()
        app.poll()
        await until(pilot, lambda: made, what="the second poll")
        assert made == ["busy"]
        made.clear()
        fake._servers["old"] = server("old", status="stopped", storage_used=2**30)
        app.poll()
        await until(pilot, lambda: made, what="the third poll")
        await pilot.pause()
        assert sorted(made) == ["busy", "old"]
        assert table.value("old", "storage").plain.startswith("1.0 GiB")
        assert table.get_row("old")[table.shown_columns.index("storage")].plain.startswith("1.0 GiB")


async def test_a_refresh_passes_over_environments_that_did_not_change(monkeypatch):
    """Environments change rarely: a poll that finds them as they were, their ages reading the same, makes no
    cells for them (before: every environment's cells were made on every poll); a changed environment, or one
    whose age as shown moved on with the clock, is shown anew."""
    from datetime import timedelta

    from localhub_tui.screens import environments as view

    made = []
    cells = view.environment_cells
    monkeypatch.setattr(view, "environment_cells", lambda e, *args: made.append(e["image"]) or cells(e, *args))
    fake = FakeClient()
    now = [NOW]
    app = LocalhubApp("/nonexistent/state", client_factory=lambda: fake, clock=lambda: now[0],
                      opener=lambda url: None, refresh_interval=3600)
    new, old = (e["image"] for e in ENVIRONMENTS)
    async with app.run_test(size=WIDE) as pilot:
        table = app.environments_view.table
        await until(pilot, lambda: table.row_count == 2, what="two rows")
        assert sorted(made) == sorted([new, old])
        made.clear()
        polls = app.poll_number
        app.poll()
        await until(pilot, lambda: app.poll_number > polls and not app._polling, what="the second poll")
        assert made == []
        fake._environments[1]["servers"] = ["late"]
        app.poll()
        await until(pilot, lambda: made, what="the third poll")
        assert made == [old]
        assert "late" in str(table.get_row(old)[table.shown_columns.index("used_by")])
        made.clear()
        now[0] = NOW + timedelta(minutes=1)  # the new one turns 2 h 31 min old; the old one still reads 2 d 19 h
        app.poll()
        await until(pilot, lambda: made, what="the fourth poll")
        assert made == [new]
        assert "2 h 31 min ago" in str(table.get_row(new)[table.shown_columns.index("built")])
