"""A full screen that streams lines from the hub: a server's container log, a stored build log, or a
rebuild's events. Escape goes back and stops the stream; `s` saves what arrived so far to a file."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static
from textual.worker import get_current_worker

from ..connection import LocalhubError
from ..widgets.save_dialog import SaveDialog
from .base import HubMixin

LineSource = Callable[[Any], "Iterable[str] | str"]  # given the client, the lines (or one text)


class LogScreen(HubMixin, Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back (stops following); q too"),
        Binding("q", "back", "Back", show=False),
        Binding("w", "wrap", "Wrap", tooltip="Wrap long lines or not"),
        Binding("s", "save", "Save", tooltip="Save the log as shown so far to a file (asks where)"),
        Binding("end", "bottom", "Follow", show=False, tooltip="Jump to the newest line"),
    ]

    def __init__(self, title: str, source: LineSource, file_stem: str = "localhub", **kwargs):
        """`file_stem` names the file `s` offers to save to (`<stem>-<date-time>.log`)."""
        super().__init__(**kwargs)
        self.heading = title
        self.source = source
        self.lines = 0
        self.text: list[str] = []  # the plain lines received, for saving
        self.file_stem = re.sub(r"[^A-Za-z0-9._-]+", "-", file_stem).strip("-.") or "localhub"

    def compose(self) -> ComposeResult:
        yield Static(self.heading, classes="screen-title", markup=False)
        yield RichLog(id="log", wrap=True, markup=False, highlight=False, max_lines=10_000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()
        self.stream()

    @work(thread=True, exit_on_error=False)
    def stream(self) -> None:
        worker = get_current_worker()
        try:
            lines = self.source(self.connection.client)
            if isinstance(lines, str):
                lines = lines.splitlines()
            for line in lines:
                if worker.is_cancelled:  # the screen was closed: stop reading (closes the stream)
                    return
                if not line:  # the daemon's keep-alive while a followed log is quiet
                    continue
                self.ui(self._write, Text.from_ansi(line.rstrip("\n")))
        except LocalhubError as err:
            self.ui(self._write, Text(str(err), style="bold red"))
            self.notify_error(str(err))
            return
        if not worker.is_cancelled:
            self.ui(self._write, Text("— end —", style="dim"))

    def _write(self, text: Text) -> None:
        self.lines += 1
        self.text.append(text.plain)
        log = self.query_one(RichLog)
        # wrap at the log's own width (RichLog would measure against the console's, which may differ)
        width = log.scrollable_content_region.width if log.wrap else 0
        log.write(text, width=width or None)

    def action_back(self) -> None:
        self.dismiss()

    def action_wrap(self) -> None:
        log = self.query_one(RichLog)
        log.wrap = not log.wrap

    def action_save(self) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        default = Path.cwd() / f"{self.file_stem}-{stamp}.log"
        lines = list(self.text)  # what is on screen now; a followed log goes on meanwhile

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.app.notify(f"Saved {len(lines)} line{'s' if len(lines) != 1 else ''} to {path}")

        self.app.push_screen(SaveDialog(f"Save {len(lines)} lines of this log", default,
                                        "\n".join(lines) + "\n"), chosen)

    def action_bottom(self) -> None:
        self.query_one(RichLog).scroll_end(animate=False)
