"""Shown when no hub runs for the state dir: offers to start one (`localhub up --detach`, on the port
the user chooses) and shows it starting. The hub keeps running after the TUI quits."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, LoadingIndicator, Static

from .base import HubMixin

DEFAULT_PORT = 8765  # localhub up's own default


def port_error(text: str) -> str | None:
    """Why `text` is not a port the hub can use (it takes the port and the two above it); None if fine."""
    if not text.strip():
        return None  # the default
    if not text.strip().isdigit():
        return "The port is a number, such as 8765."
    if not 1024 <= int(text) <= 65533:
        return "Choose a port from 1024 to 65533 (the hub also uses the two ports above it)."
    return None


class StartHubScreen(HubMixin, ModalScreen[bool]):
    BINDINGS = [Binding("escape", "later", "Not now")]
    AUTO_FOCUS = "#start-hub"

    def __init__(self, state_dir: Path, command: list[str], **kwargs):
        super().__init__(**kwargs)
        self.state_dir = state_dir
        self.command = command

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("No hub is running", classes="dialog-title")
            yield Static(f"No localhub is running for {self.state_dir}. Start one now? It keeps running "
                         "after you quit; `localhub down` stops it.", classes="dialog-body", markup=False)
            with Horizontal(id="start-port-row"):
                yield Label("Port", classes="inline-label")
                yield Input(placeholder=str(DEFAULT_PORT), id="start-port", restrict=r"[0-9]*", max_length=5)
                yield Static("empty for 8765; the next two are used too", classes="port-hint")
            yield Static("", id="start-port-error", classes="error", markup=False)
            yield LoadingIndicator(id="start-spinner")
            yield Static("", id="start-output", classes="progress-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start the hub", id="start-hub", variant="success")
                yield Button("Not now", id="start-later")

    def on_mount(self) -> None:
        self.query_one("#start-spinner").display = False

    @on(Button.Pressed, "#start-hub")
    @on(Input.Submitted, "#start-port")
    def start(self) -> None:
        port = self.query_one("#start-port", Input).value.strip()
        error = port_error(port)
        self.query_one("#start-port-error", Static).update(error or "")
        if error:
            self.query_one("#start-port", Input).focus()
            return
        self.query_one("#start-spinner").display = True
        for widget in (*self.query(Button), self.query_one("#start-port", Input)):
            widget.disabled = True
        self.query_one("#start-output", Static).update("Starting localhub (about 15 seconds)…")
        self._run(self.command + (["--port", port] if port else []))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _run(self, command: list[str]) -> None:
        try:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True)
        except OSError as err:
            self.ui(self._failed, f"Could not run {self.command[0]}: {err.strerror}.")
            return
        last = ""
        for line in proc.stdout:
            if line.strip():
                last = line.strip()
                self.ui(self._output, last)
        if proc.wait() == 0:
            self.ui(self.dismiss, True)
        else:
            self.ui(self._failed, last.removeprefix("localhub: ") or f"localhub up failed (exit {proc.returncode}).")

    def _output(self, line: str) -> None:
        self.query_one("#start-output", Static).update(line)

    def _failed(self, message: str) -> None:
        self.query_one("#start-spinner").display = False
        self.query_one("#start-output", Static).update(Text(message, style="bold red"))
        for widget in (*self.query(Button), self.query_one("#start-port", Input)):
            widget.disabled = False
        self.query_one("#start-hub", Button).label = "Try again"

    @on(Button.Pressed, "#start-later")
    def action_later(self) -> None:
        self.dismiss(False)
