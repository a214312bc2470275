"""How commands draw on a terminal: launch phases with a bar, spawn progress, and the tables of servers and
environments. Handlers decide what to show; this module only draws it."""

from __future__ import annotations

import json
import sys

from ..launch_events import LaunchEvent
from ..profiles import format_size


class LaunchDisplay:
    """Phases and a progress bar (the launch's own progress, carried by each event) on a terminal; the build log
    as plain lines otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.phase = None
        self.done = 0.0

    def show(self, wire: dict) -> None:
        event = LaunchEvent.from_wire(wire)
        phase, message = event.phase, event.message.rstrip()
        if phase != self.phase:
            self.clear()
            print(f"==> {phase}", file=self.stream, flush=True)
            self.phase = phase
        self.done = max(self.done, event.progress)
        if message and phase in ("building", "fetching", "waiting", "failed") or not self.tty:
            self.clear()
            print(f"    {message}", file=self.stream, flush=True)
        if self.tty:
            width = 30
            filled = int(width * self.done)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {int(self.done * 100):3d}% {phase}")
            self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")


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
