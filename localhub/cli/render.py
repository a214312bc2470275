"""How commands draw on a terminal: launch phases with a bar, spawn progress, and the tables of servers and
environments. Handlers decide what to show; this module only draws it.

Commands import it where they draw, not at the top of their modules: the daemon runs in the process of the CLI's
`localhub up`, which imports every command's module, and does without rich (3.8 MiB it would hold all along)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from urllib.parse import unquote

from rich.console import Console
from rich.progress import Progress, ProgressColumn, Task, TextColumn
from rich.progress_bar import ProgressBar as RichProgressBar

from ..images.progress import clock_text
from ..launch_events import LaunchEvent
from ..profiles import format_size


class _Bar(ProgressColumn):
    """The launch's bar: green while it goes, red once it failed."""

    def render(self, task: Task) -> RichProgressBar:
        failed = task.fields.get("failed")
        return RichProgressBar(total=100, completed=task.completed, width=30,
                               complete_style="red" if failed else "green",
                               finished_style="red" if failed else "green")


class LaunchDisplay:
    """A launch drawn on a terminal: the build log scrolls above one status line — the bar, the phase, where the
    build is ("step 3 of 5"), the time elapsed and, from the previous build, the time left. Without a terminal:
    the log lines, and a line at each phase with how far the launch is. Every figure comes with the events.

    A failure turns the bar red; its reason is left to the command's one error line (never printed twice)."""

    def __init__(self, stream=sys.stderr):
        self.console = Console(file=stream, highlight=False)
        self.tty = self.console.is_terminal
        self.phase = None
        self.progress = Progress(_Bar(), TextColumn("{task.percentage:>3.0f}%"), TextColumn("{task.fields[status]}"),
                                 console=self.console, transient=False, auto_refresh=False)
        self.task = self.progress.add_task("launch", total=100, status="waiting", failed=False)
        if self.tty:
            self.progress.start()

    @staticmethod
    def status(event: LaunchEvent) -> str:
        parts = [event.phase]
        if event.detail:
            parts.append(event.detail)
        if event.elapsed is not None:
            parts.append(f"{clock_text(event.elapsed)} elapsed")
        if event.left is not None:
            parts.append(f"about {clock_text(event.left)} left")
        return " · ".join(parts)

    def show(self, wire: dict) -> None:
        event = LaunchEvent.from_wire(wire)
        done = max(self.progress.tasks[0].completed, 100 * event.progress)
        self.progress.update(self.task, completed=done, status=self.status(event), failed=event.phase == "failed")
        if not self.tty and event.phase != self.phase and not event.tick:
            self.console.print(f"==> {event.phase} ({done:.0f}%)", markup=False)
        self.phase = event.phase
        if event.message and not event.tick and event.phase != "failed":
            self.console.print(("    " if not self.tty else "") + event.message, markup=False, highlight=False)
        if self.tty:  # drawn at each event (the hub ticks every second while a build is quiet)
            self.progress.refresh()

    def clear(self) -> None:
        """The end of the launch: the status line stays as it ended (red for a failure)."""
        if self.tty:
            self.progress.refresh()
            self.progress.stop()


def follow_spawn(events, as_json: bool) -> None:
    """JupyterHub's spawn progress: JSON lines with --json, one updating line on a terminal."""
    for event in events:
        if as_json:
            print(json.dumps(event), flush=True)
        elif sys.stderr.isatty():
            print(f"\r[{int(event.get('progress') or 0):3d}%] {event.get('message', '')[:70]:<70}",
                  end="", file=sys.stderr, flush=True)
    if not as_json and sys.stderr.isatty():
        print(file=sys.stderr)


DEFAULT_NAME = "(default)"  # the server JupyterHub's home page starts; its name is empty


def duration_text(seconds: float | None) -> str:
    """A compact duration as the TUI shows it: 42 s, 7 min, 3 h 05 min, 2 d 4 h; '-' when unknown. (The TUI
    keeps its own copy in tui/format.py: it imports only the client and errors from localhub.)"""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def idle_seconds(server, now: datetime) -> float | None:
    """How long a server has been idle (JupyterHub's last activity); None when stopped or unknown: a stopped
    server is not idle, it is stopped."""
    if server.status == "stopped" or not server.last_activity:
        return None
    try:
        last = datetime.fromisoformat(str(server.last_activity).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (now - (last if last.tzinfo else last.replace(tzinfo=timezone.utc))).total_seconds()


def server_row(s, now: datetime) -> list[str]:
    """One server as `servers ls` shows it, with the daemon's live figures (the TUI's columns)."""
    used = "-" if s.storage_used is None else format_size(s.storage_used)
    cap = "" if s.storage_cap is None else f" / {format_size(s.storage_cap)}"
    warn = " !" if s.storage_used and s.storage_cap and s.storage_used > s.storage_cap * 0.9 else ""
    running = s.status != "stopped"
    return [s.name or DEFAULT_NAME, s.status,
            f"{max(s.cpu_percent, 0.0):.1f}%" if running and s.cpu_percent is not None else "-",
            format_size(s.memory_used) if running and s.memory_used is not None else "-",
            duration_text(idle_seconds(s, now)), s.where or "local", s.profile or "-", used + cap + warn,
            unquote(s.environment) if s.environment else s.image or "-"]


SERVER_COLUMNS = ("NAME", "STATUS", "CPU", "MEMORY", "IDLE", "WHERE", "PROFILE", "STORAGE", "ENVIRONMENT")


def columns(header, rows) -> list[str]:
    """Rows as aligned text columns, each as wide as its widest cell; the last column is never cut."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    return ["  ".join([f"{str(cell):<{w}}" for cell, w in zip(row, widths)] + [str(row[-1])]).rstrip()
            for row in [header, *rows]]


def servers_table(servers, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)
    lines = columns(SERVER_COLUMNS, [server_row(s, now) for s in servers])
    print(lines[0])
    for s, line in zip(servers, lines[1:]):
        print(line)
        if s.notice:
            print(f"    note: {s.notice}")


ENVIRONMENT_COLUMNS = ("RESOLVED", "SIZE", "BUILT", "SERVERS", "SOURCE")


def environment_row(e: dict) -> list[str]:
    """One environment: its source last and whole (Binder specs run long and read best decoded)."""
    source = e.get("source") or unquote(e.get("spec") or e["image"])
    if e.get("building"):
        return ["(building)", "-", "-", "-", source]
    built = (e.get("built") or "")[:16].replace("T", " ")
    return [(e.get("resolved") or "-")[:12], format_size(e["size"]), built or "-", ", ".join(e["servers"]) or "-",
            source]


def environments_table(envs: list[dict]) -> None:
    for line in columns(ENVIRONMENT_COLUMNS, [environment_row(e) for e in envs]):
        print(line)
