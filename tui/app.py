"""The localhub terminal UI: tabs for servers, launches, environments and the hub, kept fresh by one
poll of the daemon every few seconds. `run(state_dir)` is the entry `localhub tui` calls.

All daemon traffic goes through `localhub.client` from thread workers; the event loop never waits on the
hub. A failed poll shows a banner and the poll keeps trying until the hub answers again.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from . import threads
from .commands import LocalhubCommands
from .connection import Connection, LocalhubError, NotRunning, start_command
from .format import utc_now
from .screens.base import PaletteEntry
from .screens.environments import EnvironmentsView
from .screens.help import HelpScreen, keys_of
from .screens.hub import HubView
from .screens.launch import LaunchView
from .screens.logs import LogScreen
from .screens.servers import ServersView
from .screens.start_hub import StartHubScreen
from .screens.workshop import WorkshopScreen
from .widgets.footer import KeyFooter
from .widgets.keyed_table import KeyedTable
from .widgets.steady import SteadyStatic

LOST = "Lost the hub — reconnecting…"
INFO_EVERY = 5  # polls between two reads of the hub's info (uptime, profiles): it rarely changes
TABS = ("servers", "launch", "environments", "hub")


class LocalhubApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "localhub"
    COMMANDS = App.COMMANDS | {LocalhubCommands}
    BINDINGS = [
        Binding("1", "show_tab('servers')", "Servers", show=False),
        Binding("2", "show_tab('launch')", "Launch", show=False),
        Binding("3", "show_tab('environments')", "Environments", show=False),
        Binding("4", "show_tab('hub')", "Hub", show=False),
        Binding("slash", "filter", "Filter", tooltip="Filter the table by text; Enter keeps it, Esc clears it"),
        Binding("question_mark", "help", "Help", tooltip="This list of keys"),
        Binding("q", "quit", "Quit", tooltip="Quit (the hub keeps running)"),
        Binding("w", "workshop", "Workshop", show=False),
    ]

    def __init__(self, state_dir: str | os.PathLike, *, client_factory: Callable[[], Any] | None = None,
                 refresh_interval: float = 3.0, clock: Callable[[], datetime] = utc_now,
                 opener: Callable[[str], None] | None = None, hub_command: list[str] | None = None):
        """`client_factory` makes the client (default: `localhub.client.Client(state_dir)`); tests pass a
        fake for snapshots. `clock` gives "now" for idle times; `opener` opens URLs (default: the browser)."""
        super().__init__()
        self.state_dir = Path(state_dir)
        self.connection = Connection(self.state_dir, client_factory)
        self.refresh_interval = refresh_interval
        self.clock = clock
        self.opener = opener
        self.hub_command = hub_command or start_command(self.state_dir)
        self.info: dict | None = None
        self.ever_connected = False
        self.lost: str | None = None  # the banner's text while the hub does not answer
        self._polling = False
        self._poll_again = False
        self._polls = 0  # polls started so far; a poll's data is as fresh as its number
        self._offered_start = False

    # --- layout -------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="top"):
            yield SteadyStatic(f"localhub · {self.state_dir}", id="hubbar", markup=False)
            yield SteadyStatic(LOST, id="banner", markup=False)
        with TabbedContent(id="tabs", initial="servers"):
            with TabPane("Servers", id="servers"):
                yield ServersView(id="servers-view")
            with TabPane("Launch", id="launch"):
                yield LaunchView(id="launch-view")
            with TabPane("Environments", id="environments"):
                yield EnvironmentsView(id="environments-view")
            with TabPane("Hub", id="hub"):
                yield HubView(id="hub-view")
        yield KeyFooter()

    @property
    def servers_view(self) -> ServersView:
        return self.query_one(ServersView)

    @property
    def launch_view(self) -> LaunchView:
        return self.query_one(LaunchView)

    @property
    def environments_view(self) -> EnvironmentsView:
        return self.query_one(EnvironmentsView)

    @property
    def hub_view(self) -> HubView:
        return self.query_one(HubView)

    def on_mount(self) -> None:
        threads.install()
        self.query_one("#banner").display = False
        self.servers_view.table.focus()
        self.poll()
        self.set_interval(self.refresh_interval, self._tick)

    def _tick(self) -> None:
        if not self._polling:  # a slow hub is not asked twice at once
            self.poll()

    # --- the poll -----------------------------------------------------------------------------------
    def poll(self) -> None:
        """Ask the hub for fresh data now (or right after the poll that is still out)."""
        if self._polling:
            self._poll_again = True
            return
        self._poll_again = False
        self._polling = True
        self._polls += 1
        self._poll(self._polls, self.info is None or self._polls % INFO_EVERY == 1)

    @property
    def poll_number(self) -> int:
        """The number of the latest poll started: data from a later poll saw everything done before now."""
        return self._polls

    @work(thread=True, group="poll", exit_on_error=False)
    def _poll(self, number: int, with_info: bool) -> None:
        try:
            client = self.connection.client
            info, servers, environments, env_error = self.fetch(client, with_info)
        except NotRunning as err:
            self.connection.drop()
            self._from_thread(self._not_running, str(err))
            return
        except LocalhubError as err:
            self.connection.drop()
            self._from_thread(self._lost, str(err))
            return
        except Exception as err:  # a bug or a garbled answer: say so, keep polling
            self.connection.drop()
            self._from_thread(self._lost, f"its answer could not be read ({err.__class__.__name__}: {err}).")
            return
        self._from_thread(self._fresh, number, info, servers, environments, env_error)

    def fetch(self, client, with_info: bool) -> tuple[dict | None, list, list | None, str | None]:
        """One poll's data: (the hub's info when asked, servers, environments or None, why they failed). Raises
        what asking for the servers raises. Both come in one request (Client.listing): the daemon makes them
        from one answer of JupyterHub, whose cost grows with every server. A client without it (the tests'
        stand-ins) is asked for the environments beside the servers, on a thread of their own, so a poll takes
        the slower of the two requests instead of their sum."""
        listing = getattr(client, "listing", None)
        if callable(listing):
            info = client.info() if with_info else None
            return info, *listing()
        beside: Future | None = None
        if self.connection.offers("environments"):
            beside = threads.DaemonThreadExecutor().submit(client.environments)
        info = client.info() if with_info else None
        servers = client.servers()
        environments, env_error = None, None
        if beside is not None:
            try:
                environments = beside.result()
            except LocalhubError as err:
                env_error = str(err)
        return info, servers, environments, env_error

    def _from_thread(self, callback, *args) -> None:
        """Hand a poll's result to the UI thread, unless the app is quitting meanwhile."""
        if self.is_running:
            try:
                self.call_from_thread(callback, *args)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    def _poll_done(self) -> None:
        self._polling = False
        if self._poll_again:
            self.call_later(self.poll)

    def _fresh(self, number: int, info: dict | None, servers: list, environments: list | None,
               env_error: str | None) -> None:
        self._poll_done()
        first = not self.ever_connected or self.lost is not None
        self.ever_connected = True
        self._set_banner(None)
        if info is not None:
            self.info = info
            self.hub_view.show(info)
            self.launch_view.hub_ready(info)
        self.servers_view.show(servers, number)
        self.environments_view.show(environments, env_error)
        self._update_hubbar(servers)
        if first and self.screen_stack and isinstance(self.screen, StartHubScreen):
            self.screen.dismiss(True)

    def _lost(self, message: str) -> None:
        self._poll_done()
        self._set_banner(LOST if self.ever_connected else f"Cannot reach the hub: {message} Retrying…")

    def _not_running(self, message: str) -> None:
        self._poll_done()
        if self.ever_connected:
            self._set_banner(LOST)
            return
        self._set_banner(f"No localhub is running for {self.state_dir} — start one: Ctrl+P → Start the hub")
        if not self._offered_start:
            self._offered_start = True
            self.action_start_hub()

    def _set_banner(self, text: str | None) -> None:
        self.lost = text
        banner = self.query_one("#banner", SteadyStatic)
        if text:
            banner.update(text)
        banner.display = bool(text)

    def _update_hubbar(self, servers: list) -> None:
        info = self.info or {}
        running = sum(1 for s in servers if s.ready)
        self.query_one("#hubbar", SteadyStatic).update(
            f"localhub {info.get('version', '')} · {info.get('url', '?')} · user {info.get('user', '?')} · "
            f"{len(servers)} server{'s' if len(servers) != 1 else ''}, {running} running")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_failed(event)

    def worker_failed(self, event: Worker.StateChanged) -> None:
        """A worker that died of something other than a LocalhubError: one sentence, never a traceback."""
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            self.notify(f"Unexpected error ({err.__class__.__name__}: {err}); the TUI carries on. "
                        "Please report it.", severity="error", timeout=10)

    # --- actions ------------------------------------------------------------------------------------
    def action_start_hub(self) -> None:
        def answered(started: bool | None) -> None:
            if started:
                self.notify("The hub is running.")
                self.poll()

        self.push_screen(StartHubScreen(self.state_dir, self.hub_command), answered)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        target = {"servers": lambda: self.servers_view.table, "environments": lambda: self.environments_view.table,
                  "launch": lambda: self.launch_view.query_one("#link"), "hub": lambda: self.hub_view}[tab]()
        if target.focusable:
            target.focus()

    def show_launch(self) -> None:
        self.action_show_tab("launch")

    def action_filter(self) -> None:
        tab = self.query_one(TabbedContent).active
        view = {"servers": self.servers_view, "environments": self.environments_view}.get(tab)
        if view is None or not view.table.display:
            self.notify("Nothing to filter on this tab.", severity="warning")
            return
        view.query_one("FilterBar").open()

    def action_workshop(self) -> None:
        self.push_screen(WorkshopScreen())

    def action_help(self) -> None:
        self.push_screen(HelpScreen([
            ("Everywhere", [*keys_of([b for b in self.BINDINGS if b.show]),
                            ("ctrl+p", "Command palette: every action by name, and themes"), ("ctrl+q", "Quit")]),
            ("Tabs", [(str(i), f"Go to {tab.title()}") for i, tab in enumerate(TABS, 1)]),
            ("Tables", [("j,k", "Next row, previous row (also the arrows)"), *keys_of(KeyedTable.BINDINGS[2:])]),
            ("Servers", keys_of(ServersView.BINDINGS)),
            ("Launch", keys_of(LaunchView.BINDINGS)),
            ("Environments", keys_of(EnvironmentsView.BINDINGS)),
            ("Hub", keys_of(HubView.BINDINGS)),
            ("Logs", keys_of(LogScreen.BINDINGS)),
        ]))

    def notify(self, message: str, *, markup: bool = False, **kwargs) -> None:
        """Notifications carry the hub's sentences and URLs verbatim: '[Errno 111]' is not markup."""
        super().notify(message, markup=markup, **kwargs)

    def open_link(self, url: str) -> None:
        """Open a URL in the browser (and say which, so it can be copied from the terminal too)."""
        if self.opener is not None:
            self.notify(f"Opening {url}")
            self.opener(url)
        elif graphical_browser_likely():
            self.notify(f"Opening {url}")
            self.open_url(url)
        else:  # a console browser would take over this very terminal
            self.copy_to_clipboard(url)
            self.notify(f"No graphical browser here; copied to the clipboard: {url}", timeout=10)

    # --- the palette --------------------------------------------------------------------------------
    def palette_entries(self) -> Iterator[PaletteEntry]:
        for i, tab in enumerate(TABS, 1):
            yield PaletteEntry(f"Go to {tab.title()}", f"Key {i}", lambda t=tab: self.action_show_tab(t))
        yield PaletteEntry("Filter the current table", "Key /", self.action_filter)
        yield PaletteEntry("Help: all keys", "Key ?", self.action_help)
        yield PaletteEntry("Refresh now", "Ask the hub for fresh figures", self.poll)
        yield PaletteEntry("Workshop: bundles and the class", "Key w", self.action_workshop)
        if self.lost or not self.ever_connected:
            yield PaletteEntry("Start the hub", f"localhub up --detach --state-dir {self.state_dir}",
                               self.action_start_hub)
        for view in (self.servers_view, self.launch_view, self.environments_view, self.hub_view):
            yield from view.palette()


def graphical_browser_likely() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"))


def run(state_dir: str | os.PathLike) -> int:
    """Run the TUI for the hub of `state_dir` until the user quits; returns the exit code."""
    app = LocalhubApp(state_dir)
    app.run()
    return app.return_code or 0
