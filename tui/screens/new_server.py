"""The new-server form: a name and a profile; the hub's answer (or its refusal) shows inline."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from ..connection import LocalhubError
from .base import HubMixin


class NewServerScreen(HubMixin, ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Close")]
    AUTO_FOCUS = "#new-name"

    def __init__(self, profiles: list[dict], default_profile: str | None, max_length: int | None, **kwargs):
        super().__init__(**kwargs)
        self.profiles = profiles
        self.default_profile = default_profile
        self.max_length = max_length or 0
        self.busy = False

    def compose(self) -> ComposeResult:
        options = [(f"{p['name']} — {p.get('description', '')}".rstrip(" —"), p["name"]) for p in self.profiles]
        names = [value for _, value in options]
        default = self.default_profile if self.default_profile in names else (names[0] if names else Select.BLANK)
        with Vertical(classes="dialog"):
            yield Static("New server", classes="dialog-title")
            yield Label("Name")
            yield Input(placeholder="letters, digits and dashes", id="new-name", max_length=self.max_length)
            yield Label("Profile")
            yield Select(options, value=default, allow_blank=not options, id="new-profile",
                         prompt="the hub's default profile")
            yield Static("", id="new-error", classes="error", markup=False)
            yield Static("", id="new-progress-text", classes="progress-text", markup=False)
            yield ProgressBar(total=100, show_eta=False, id="new-progress")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="new-cancel")
                yield Button("Create", id="new-create", variant="success")

    def on_mount(self) -> None:
        self.query_one("#new-progress").display = False

    @on(Input.Submitted, "#new-name")
    @on(Button.Pressed, "#new-create")
    def submit(self) -> None:
        if self.busy:
            return
        name = self.query_one("#new-name", Input).value.strip()
        error = self.query_one("#new-error", Static)
        if not name:
            error.update("Give the server a name.")
            return
        profile = self.query_one("#new-profile", Select).value
        error.update("")
        self._busy(True, f"Creating '{name}'…")
        self.create(name, None if profile is Select.BLANK else profile)

    def _busy(self, busy: bool, message: str = "") -> None:
        self.busy = busy
        for selector in ("#new-name", "#new-profile", "#new-create"):
            self.query_one(selector).disabled = busy
        self.query_one("#new-progress").display = busy
        self.query_one("#new-progress-text", Static).update(message)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def create(self, name: str, profile: str | None) -> None:
        try:
            for event in self.connection.client.create_server(name, profile=profile):
                if get_current_worker().is_cancelled:
                    return  # the form was closed; the server keeps starting and the table shows it
                self.ui(self._progress, event)
        except LocalhubError as err:
            self.ui(self._failed, str(err))
        except Exception as err:  # not the hub's refusal: still say it in the form, keep it usable
            self.ui(self._failed, f"Unexpected error ({err.__class__.__name__}: {err}).")
        else:
            self.tell(f"Server '{name}' is running.")
            self.ui(self.dismiss, name)

    def _progress(self, event: dict) -> None:
        self.query_one("#new-progress", ProgressBar).update(progress=event.get("progress") or 0)
        self.query_one("#new-progress-text", Static).update(event.get("message") or "")

    def _failed(self, message: str) -> None:
        self._busy(False)
        self.query_one("#new-error", Static).update(message)
        self.query_one("#new-name", Input).focus()

    @on(Button.Pressed, "#new-cancel")
    def action_cancel(self) -> None:
        # a server already being created keeps starting; the table shows it
        self.dismiss(None)
