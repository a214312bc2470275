"""A DataTable kept in step with fresh data by row key.

Rows are added, updated cell by cell, or removed — never cleared and refilled — so the cursor stays on
the row it was on while the daemon's figures change underneath it. A substring filter hides rows the same
way (by removing just those rows), so filtering and refreshing compose.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

def _same(a, b) -> bool:
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return type(a) is type(b) and a == b


def _plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


class KeyedTable(DataTable):
    def __init__(self, columns: Sequence[tuple], **kwargs):
        """`columns`: (key, label) or (key, label, width) — a width crops long values with an ellipsis."""
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self.column_keys = [c[0] for c in columns]
        self._labels = [c[1] for c in columns]
        self._widths = [c[2] if len(c) > 2 else None for c in columns]
        self._source: dict[str, tuple] = {}
        self._filter = ""

    def on_mount(self) -> None:
        for key, label, width in zip(self.column_keys, self._labels, self._widths):
            self.add_column(label, key=key, width=width)
        self._apply()

    # --- what the views call ------------------------------------------------------------------
    def sync(self, rows: Iterable[tuple[str, Sequence]]) -> None:
        """Show exactly these (key, cells) rows, in this order for new ones, touching only what changed."""
        self._source = {key: tuple(cells) for key, cells in rows}
        self._apply()

    @property
    def filter(self) -> str:
        return self._filter

    @filter.setter
    def filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        self._apply()

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty table."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def select_key(self, key: str) -> bool:
        try:
            index = self.get_row_index(key)
        except Exception:  # RowDoesNotExist: not shown (filtered out, or not there yet)
            return False
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)
        return True

    @property
    def keys(self) -> list[str]:
        """Keys of all rows, shown or filtered out, in data order."""
        return list(self._source)

    # --- the one place rows change -------------------------------------------------------------
    def _visible(self, cells: tuple) -> bool:
        return not self._filter or any(self._filter in _plain(c).lower() for c in cells)

    def _apply(self) -> None:
        if not self.is_mounted or len(self.columns) != len(self.column_keys):
            return  # on_mount shows the data once the columns exist
        keep = self.cursor_key
        wanted = [key for key, cells in self._source.items() if self._visible(cells)]
        shown = {row.key.value for row in self.ordered_rows}
        for key in shown.difference(wanted):
            self.remove_row(key)
        for key in wanted:
            cells = self._source[key]
            if key not in shown:
                self.add_row(*cells, key=key)
                continue
            old = self.get_row(key)
            for column, new, was in zip(self.column_keys, cells, old):
                if not _same(new, was):
                    # re-measuring the column is only needed when the cell got wider
                    wider = len(_plain(new)) > len(_plain(was))
                    self.update_cell(key, column, new, update_width=wider)
        if keep is not None:
            self.select_key(keep)
