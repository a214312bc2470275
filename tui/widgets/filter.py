"""The `/` filter: an Input under a table that narrows its rows by substring as you type.

Enter keeps the filter and returns to the table; Escape clears it.
"""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.widgets import Input

from .keyed_table import KeyedTable


class FilterBar(Input):
    BINDINGS = [Binding("escape", "clear", "Clear filter", show=True)]

    def __init__(self, table: KeyedTable, **kwargs):
        super().__init__(placeholder="filter rows (Enter keeps, Esc clears)", classes="filter-bar", **kwargs)
        self.table = table
        self.display = False

    def open(self) -> None:
        self.display = True
        self.focus()

    def action_clear(self) -> None:
        self.value = ""
        self.table.filter = ""
        self.display = False
        self.table.focus()

    @on(Input.Changed)
    def _narrow(self, event: Input.Changed) -> None:
        event.stop()
        self.table.filter = event.value

    @on(Input.Submitted)
    def _keep(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self.display = False
        self.table.focus()
