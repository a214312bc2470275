"""How commands draw on a terminal: launch phases with a bar, spawn progress, and the tables of servers and
environments. Handlers decide what to show; this module only draws it."""

from __future__ import annotations

import json
import sys

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


def servers_table(servers) -> None:
    print(f"{'NAME':<21} {'STATUS':<9} {'WHERE':<12} {'PROFILE':<9} {'STORAGE':<21} IMAGE")
    for s in servers:
        used = "-" if s.storage_used is None else format_size(s.storage_used)
        cap = "" if s.storage_cap is None else f" / {format_size(s.storage_cap)}"
        warn = " !" if s.storage_used and s.storage_cap and s.storage_used > s.storage_cap * 0.9 else ""
        print(f"{s.name:<21} {s.status:<9} {s.where or 'local':<12} {s.profile or '-':<9} {used + cap + warn:<21} "
              f"{s.image or '-'}")
        if s.notice:
            print(f"{'':<21} note: {s.notice}")


def environments_table(envs: list[dict]) -> None:
    print(f"{'SPEC':<44} {'RESOLVED':<13} {'SIZE':>10}  {'BUILT':<17} SERVERS")
    for e in envs:
        if e.get("building"):
            print(f"{e['image']:<44} (building now)")
            continue
        built = (e.get("built") or "")[:16].replace("T", " ")
        print(f"{e['spec'][:44]:<44} {e['resolved'][:12]:<13} {format_size(e['size']):>10}  {built:<17} "
              f"{', '.join(e['servers']) or '-'}")
