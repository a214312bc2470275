"""`?`: every key binding, by where it works, built from the bindings themselves so it cannot drift."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "Esc", "enter": "Enter", "end": "End",
             "greater_than_sign": ">", "less_than_sign": "<"}


def key_label(key: str) -> str:
    return ", ".join(KEY_NAMES.get(k, k.replace("ctrl+", "Ctrl+")) for k in key.split(","))


Section = tuple[str, list[tuple[str, str]]]  # title, [(key, what it does)]


def keys_of(bindings: list[Binding]) -> list[tuple[str, str]]:
    """(key, what it does) for each binding worth listing; the longer tooltip when there is one."""
    seen, rows = set(), []
    for b in bindings:
        if b.description and b.action not in seen:
            seen.add(b.action)
            rows.append((b.key, b.tooltip or b.description))
    return rows


def bindings_table(sections: list[Section]) -> Table:
    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column(justify="right", style="bold")
    table.add_column()
    for title, bindings in sections:
        table.add_row(Text(title, style="bold underline"), "")
        for key, description in bindings:
            table.add_row(key_label(key), description)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, sections: list[Section], **kwargs):
        super().__init__(**kwargs)
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static("Keys", classes="dialog-title")
            yield Static(bindings_table(self.sections))
            yield Static("Ctrl+P opens the command palette: every action, and per-server commands, by name. "
                         "Themes: Ctrl+P → Theme.", classes="dim")

    def action_close(self) -> None:
        self.dismiss()
