"""The Servers tab: the user's named servers, refreshed in place, with start/stop/delete/open/logs/new."""

from __future__ import annotations

from typing import Iterator

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable

from .. import format as fmt
from ..connection import LocalhubError
from ..widgets.confirm import ConfirmScreen
from ..widgets.filter import FilterBar
from ..widgets.charts import sparkline
from ..widgets.keyed_table import Column, KeyedTable
from ..widgets.steady import SteadyStatic
from .. import shell
from .base import HubMixin, PaletteEntry
from .logs import LogScreen
from .new_server import NewServerScreen
from .server_details import ServerDetails, cpu_values, memory_values

ENV_WIDTH = 24  # Binder specs run long; the full one is on the Environments tab
DETAILS_HEIGHT = 32  # terminal lines from which the details pane shows without asking
TREND_WIDTH = 10  # samples in a table sparkline: the last 50 s at the daemon's 5 s interval
# priority: which columns stay when the terminal is narrow (0 always; the highest numbers go first)
COLUMNS = [
    Column("name", "Name", priority=0),
    Column("environment", "Environment", ENV_WIDTH, priority=5),
    Column("profile", "Profile", priority=7),
    Column("status", "Status", priority=0),
    Column("cpu", "CPU", priority=1, descending=True),
    Column("cpu_trend", "CPU trend", TREND_WIDTH, priority=3, descending=True),
    Column("memory", "Memory", priority=1, descending=True),
    Column("memory_trend", "Mem trend", TREND_WIDTH, priority=5, descending=True),
    Column("storage", "Storage", priority=4, descending=True),
    Column("idle", "Idle for", priority=2, descending=True),
    Column("where", "Where", priority=6),
]

STATUS = {  # daemon status -> (what the user reads, style)
    "running": ("● running", "green"),
    "paused": ("⏸ paused", "cyan"),  # idle, frozen with its memory kept: s (or opening it) resumes it
    "spawn": ("◐ starting", "yellow"),
    "stop": ("◑ stopping", "yellow"),
    "stopped": ("○ stopped", "dim"),
}


def server_cells(server, now, pending: str | None = None) -> tuple:
    """One table row for a server (a `localhub.client.Server`)."""
    if pending:
        status = Text(f"◌ {pending}", style="bold yellow")
    else:
        label, style = STATUS.get(server.status, (server.status, ""))
        status = Text(label, style=style)
    environment = (Text(fmt.short_spec(server.environment, ENV_WIDTH)) if server.environment
                   else Text(server.image or fmt.DASH, style="dim"))
    environment.truncate(ENV_WIDTH, overflow="ellipsis")
    # used, and how much of the cap that is (the cap itself is in the details pane)
    used, over = fmt.size(server.storage_used), fmt.storage(server.storage_used, server.storage_cap)[1]
    if server.storage_used is not None and server.storage_cap:
        used += f" {server.storage_used / server.storage_cap:4.0%}"
    storage = Text(used + (" !" if over else ""), style="bold red" if over else "", justify="right")
    running = server.status != "stopped"
    cpu_top = (server.cpu_limit or 1.0) * 100
    return (
        Text(server.name or "(default)", style="bold"),
        environment,
        server.profile or fmt.DASH,
        status,
        Text(fmt.percent(server.cpu_percent), justify="right"),
        sparkline(cpu_values(server) if running else [], TREND_WIDTH, cpu_top, "green"),
        Text(fmt.size(server.memory_used), justify="right"),
        sparkline(memory_values(server) if running else [], TREND_WIDTH,
                  server.memory_limit or max(filter(None, memory_values(server)), default=1), "cyan"),
        storage,
        # a stopped server is not idle, it is stopped: its last activity is in the details pane
        Text(fmt.since(server.last_activity, now) if running else fmt.DASH, justify="right"),
        where_cell(server),
    )


def sort_values(server, now) -> tuple:
    """What each column sorts by: figures as numbers, idle time in seconds (None: unknown, sorted last)."""
    last = fmt.parse_time(server.last_activity)
    idle = (now - last).total_seconds() if last and server.status != "stopped" else None
    recent_cpu = [c for c in cpu_values(server)[-TREND_WIDTH:] if c is not None]
    recent_memory = [m for m in memory_values(server)[-TREND_WIDTH:] if m is not None]
    return (server.name, server.environment or server.image, server.profile, server.status,
            server.cpu_percent, max(recent_cpu, default=None), server.memory_used,
            max(recent_memory, default=None), server.storage_used, idle, server.where)


def where_cell(server) -> Text | str:
    """Where a server runs; a server on a lab peer that is paused (its owner came back) or lost says so."""
    where = server.where or fmt.DASH
    notice = getattr(server, "notice", None) or ""
    if notice.startswith("paused"):
        return Text(f"{where} ⏸ paused", style="yellow")
    if notice.startswith("lost"):
        return Text(f"{where} (lost)", style="red")
    return where


class ServersView(HubMixin, Vertical):
    BINDINGS = [
        Binding("n", "new", "New", tooltip="Create and start a named server (name and profile)"),
        Binding("s", "start", "Start", tooltip="Start the selected server"),
        Binding("x", "stop", "Stop", tooltip="Stop the selected server; its files are kept"),
        Binding("d", "delete", "Delete", tooltip="Delete the selected server and its files (asks first)"),
        Binding("o", "open", "Open", tooltip="Open the selected server in the browser"),
        Binding("l", "logs", "Logs", tooltip="Follow the selected server's log"),
        Binding("e", "shell", "Shell", tooltip="A shell in the selected server's container (exit to come back)"),
        Binding("enter", "details", "Details", key_display="⏎",
                tooltip="Show or hide the details of the selected server, with its CPU and memory charts"),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.servers: dict[str, object] = {}
        self.pending: dict[str, str] = {}  # name -> what we are doing to it ("stopping", "starting 50%")
        self._settled: dict[str, int] = {}  # name -> poll number after which its action had finished
        self._select_when_seen: str | None = None
        self._stopped_rows: dict[str, tuple] = {}  # name -> (server, its row): see _row
        self.table = KeyedTable(COLUMNS, id="servers-table")
        self.details = ServerDetails(id="server-details")
        self.details_wanted = False

    def compose(self) -> ComposeResult:
        yield self.table
        yield SteadyStatic("Connecting to the hub…", id="servers-empty", classes="empty")
        yield self.details
        yield FilterBar(self.table, id="servers-filter")

    def on_mount(self) -> None:
        # shown at once where there is room for it (as lazydocker does); Enter shows or hides it
        self.details_wanted = self.app.size.height >= DETAILS_HEIGHT
        self.details.display = False  # until there is a server to show

    # --- data in ------------------------------------------------------------------------------
    def show(self, servers: list, poll_number: int | None = None) -> None:
        """Fresh data from poll `poll_number`; a finished action's note stays until a poll started after it
        reports (else the row would flash its old status)."""
        for server in servers:
            before = self.servers.get(server.name)
            notice = getattr(server, "notice", None)
            if notice and (before is None or getattr(before, "notice", None) != notice):
                away = (getattr(server, "where", None) or "local") != "local"
                self.app.notify(f"{server.name or '(default)'}: {notice}",
                                title="Server on a lab peer" if away else "Server", severity="warning", timeout=15)
        self.servers = {s.name: s for s in servers}
        for name, after in list(self._settled.items()):
            if poll_number is None or poll_number > after:
                del self._settled[name]
                self.pending.pop(name, None)
        self._redraw()

    def _redraw(self) -> None:
        now = self.app.clock()
        self.table.sync((name, *self._row(name, s, now)) for name, s in self.servers.items())
        for name in set(self._stopped_rows).difference(self.servers):
            del self._stopped_rows[name]
        empty = self.query_one("#servers-empty", SteadyStatic)
        empty.update("No servers yet — press n to create one, or launch a Binder link on the Launch tab.")
        empty.display = not self.servers
        if self._select_when_seen and self.table.select_key(self._select_when_seen):
            self._select_when_seen = None
        self._show_details()

    def _row(self, name: str, server, now) -> tuple:
        """(cells, sort values) of a server's row. A stopped server's row does not depend on the clock, so while
        its server is equal to the last poll's, the same row (the same objects) is given again and the table
        passes over it: a desktop that fills up holds mostly stopped servers, and a refresh need not cost more
        for each of them."""
        pending = self.pending.get(name)
        kept = self._stopped_rows.get(name)
        if kept is not None and not pending and kept[0] == server:
            return kept[1]
        row = server_cells(server, now, pending), sort_values(server, now)
        if server.status == "stopped" and not pending:
            self._stopped_rows[name] = (server, row)
        else:
            self._stopped_rows.pop(name, None)
        return row

    @on(DataTable.RowHighlighted, "#servers-table")
    def _show_details(self) -> None:
        self.details.display = self.details_wanted and bool(self.servers)
        if self.details.display:
            self.details.show(self.servers.get(self.table.cursor_key), self.app.clock())

    @on(DataTable.RowSelected, "#servers-table")
    def action_details(self) -> None:
        self.details_wanted = not self.details_wanted
        self._show_details()

    def _set_pending(self, name: str, what: str | None) -> None:
        if what is None:
            self.pending.pop(name, None)
        else:
            self.pending[name] = what
        self._redraw()

    # --- which server --------------------------------------------------------------------------
    def _target(self, name: str | None):
        name = name if name is not None else self.table.cursor_key
        if name is None or name not in self.servers:
            self.app.notify("No server selected; press n to create one.", severity="warning")
            return None
        return self.servers[name]

    # --- actions ------------------------------------------------------------------------------
    def action_open(self, name: str | None = None) -> None:
        server = self._target(name)
        if server is None:
            return
        if not server.ready:
            self.app.notify(f"Server '{server.name}' is not running; press s to start it.", severity="warning")
            return
        self.app.open_link(server.url)

    def action_start(self, name: str | None = None) -> None:
        server = self._target(name)
        if server is None:
            return
        if (server.ready and server.status != "paused") or server.name in self.pending:
            self.app.notify(f"Server '{server.name}' is {self.pending.get(server.name, 'running')} already.")
            return
        self._set_pending(server.name, "resuming" if server.status == "paused" else "starting")
        self._start(server.name)

    @work(thread=True, group="server-action", exit_on_error=False)
    def _start(self, name: str) -> None:
        try:
            for event in self.connection.client.start_server(name):
                self.ui(self._set_pending, name, f"starting {int(event.get('progress') or 0)}%")
        except LocalhubError as err:
            self.notify_error(str(err))
        else:
            self.tell(f"Server '{name}' is running.")
        finally:
            self.ui(self._done, name)

    def action_stop(self, name: str | None = None) -> None:
        server = self._target(name)
        if server is None:
            return
        if server.status == "stopped":
            self.app.notify(f"Server '{server.name}' is stopped already.")
            return
        self._set_pending(server.name, "stopping")
        self._stop(server.name)

    @work(thread=True, group="server-action", exit_on_error=False)
    def _stop(self, name: str) -> None:
        try:
            self.connection.client.stop_server(name)
        except LocalhubError as err:
            self.notify_error(str(err))
        else:
            self.tell(f"Server '{name}' stopped; its files are kept.")
        finally:
            self.ui(self._done, name)

    def action_delete(self, name: str | None = None) -> None:
        server = self._target(name)
        if server is None:
            return
        holds = f" (it holds {fmt.size(server.storage_used)} now)" if server.storage_used is not None else ""
        body = (f"This stops '{server.name}' and deletes its home volume and every file in it{holds}. "
                "Nothing else is touched, but those files cannot be recovered.")

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._set_pending(server.name, "deleting")
                self._delete(server.name)
            else:
                self.app.notify(f"Nothing deleted; '{server.name}' keeps its files.")

        self.app.push_screen(ConfirmScreen(f"Delete server '{server.name}'?", body, "Delete server and files"),
                             answered)

    @work(thread=True, group="server-action", exit_on_error=False)
    def _delete(self, name: str) -> None:
        try:
            self.connection.client.delete_server(name)
        except LocalhubError as err:
            self.notify_error(str(err))
        else:
            self.tell(f"Server '{name}' deleted with its storage.")
        finally:
            self.ui(self._done, name)

    def _done(self, name: str) -> None:
        self._settled[name] = self.app.poll_number
        self.app.poll()

    def action_logs(self, name: str | None = None) -> None:
        server = self._target(name)
        if server is None:
            return
        target = server.name
        self.app.push_screen(LogScreen(f"Log of server '{target}' (following)",
                                       lambda client: client.server_logs(target, follow=True),
                                       file_stem=f"server-{target or 'default'}"))

    def action_shell(self, name: str | None = None) -> None:
        """Suspend the TUI, run a shell in the server's container, and come back when it exits."""
        server = self._target(name)
        if server is None:
            return
        refusal = shell.refusal(server)
        if refusal:
            self.app.notify(refusal, severity="warning")
            return
        engine = ((self.app.info or {}).get("engine") or {}).get("address")
        self.app.notify(shell.run(self.app, server, engine), timeout=6)
        self.app.poll()

    def action_new(self) -> None:
        info = self.app.info or {}

        def created(name: str | None) -> None:
            if name:
                self._select_when_seen = name
                self.app.poll()

        self.app.push_screen(NewServerScreen(info.get("profiles") or [], info.get("default_profile"),
                                             (info.get("limits") or {}).get("server_name_max_length")),
                             created)

    # --- the palette ---------------------------------------------------------------------------
    def palette(self) -> Iterator[PaletteEntry]:
        yield PaletteEntry("New server", "Create and start a named server", self.action_new)
        yield PaletteEntry("Show or hide the server details", "Key Enter: image, volume, limits, charts",
                           self.action_details)
        for column in COLUMNS:
            yield PaletteEntry(f"Sort servers by {column.label}", "Keys < and > (I reverses)",
                               lambda c=column.key: self.table.sort_by(c), False)
        for name, s in self.servers.items():
            # offer only what can be done to the server as it is now
            if s.ready:
                yield PaletteEntry(f"Open server '{name}' in the browser", s.url or "",
                                   lambda n=name: self.action_open(n), False)
                yield PaletteEntry(f"Shell in server '{name}'", "Key e: exit the shell to come back",
                                   lambda n=name: self.action_shell(n), False)
            if s.status == "stopped":
                yield PaletteEntry(f"Start server '{name}'", "stopped now", lambda n=name: self.action_start(n), False)
            elif s.status == "paused":
                yield PaletteEntry(f"Resume server '{name}'", "paused while idle, its memory kept",
                                   lambda n=name: self.action_start(n), False)
            else:
                yield PaletteEntry(f"Stop server '{name}'", "Files are kept", lambda n=name: self.action_stop(n), False)
            yield PaletteEntry(f"Delete server '{name}'", "Asks first; removes its files",
                               lambda n=name: self.action_delete(n), False)
            yield PaletteEntry(f"Show the log of server '{name}'", "Follows the container log",
                               lambda n=name: self.action_logs(n), False)
