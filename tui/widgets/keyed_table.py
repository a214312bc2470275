"""A DataTable kept in step with fresh data by row key, sortable by any column, that drops its least
important columns when the terminal is narrow instead of cutting them off.

Rows are added, updated cell by cell, or removed — never cleared and refilled — so the cursor stays on
the row it was on while the daemon's figures change underneath it. A substring filter hides rows the same
way (by removing just those rows); rows are then put back in the order of the data (or of the chosen sort,
which is stable), so filtering and refreshing compose. Only a change of the columns shown (a resize, a new
sort arrow) rebuilds the table, keeping the cursor's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from rich.text import Text
from textual import events, on
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

ARROWS = {False: " ▲", True: " ▼"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None  # crops long values with an ellipsis
    priority: int = 0  # when the table is too narrow, columns of the highest priority number go first
    descending: bool = False  # sorted by this column, biggest first (figures), unless reversed


def _same(a, b) -> bool:
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return type(a) is type(b) and a == b


def _plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _width(cell) -> int:
    if isinstance(cell, (Text, str)):
        return max((len(line) for line in _plain(cell).splitlines()), default=0)
    return getattr(cell, "width", None) or 0  # a renderable that says how wide it draws (a sparkline)


def _sort_key(value: Any) -> tuple:
    """Unknown values (None) sort last in either direction; text case-insensitively."""
    if value is None:
        return (1, 0)
    if isinstance(value, (Text, str)):
        return (0, _plain(value).lower())
    return (0, value)


class KeyedTable(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "First row", show=False, tooltip="Go to the first row (also Ctrl+Home)"),
        Binding("G", "scroll_bottom", "Last row", show=False, tooltip="Go to the last row (also Ctrl+End)"),
        Binding("greater_than_sign", "sort_next", "Sort", show=False,
                tooltip="Sort by the next column (< the previous one; a click on a header sorts by it)"),
        Binding("less_than_sign", "sort_previous", "Sort by the previous column", show=False),
        Binding("I", "sort_reverse", "Reverse sort", show=False, tooltip="Reverse the order of the sort"),
    ]

    def __init__(self, columns: Sequence[Column | tuple], **kwargs):
        """`columns`: Column, or (key, label) / (key, label, width) tuples."""
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self.spec = [c if isinstance(c, Column) else Column(*c) for c in columns]
        self.column_keys = [c.key for c in self.spec]
        self._source: dict[str, tuple] = {}
        self._sort_values: dict[str, tuple] = {}
        # per row key: the cells (the very tuple) the table shows now, and a tuple's natural widths: a view that
        # gives the same tuple again for an unchanged row (ServersView's stopped servers) costs nothing more
        self._shown: dict[str, tuple] = {}
        self._widths: dict[str, tuple[tuple, tuple[int, ...]]] = {}
        self._filter = ""
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.shown_columns: list[str] = []  # keys of the columns on screen now, in order

    def on_mount(self) -> None:
        self._apply()

    # --- what the views call ------------------------------------------------------------------
    def sync(self, rows: Iterable[tuple]) -> None:
        """Show exactly these rows, touching only what changed. A row is (key, cells) or (key, cells,
        sort values): one value per column to sort by (numbers, times; None for unknown); without them
        a column sorts by its text. New rows come in data order unless a sort says otherwise. Rows given as the
        same tuple as last time are taken as unchanged, without looking at their cells."""
        self._source, self._sort_values = {}, {}
        for key, cells, *sort_values in rows:
            self._source[key] = cells if isinstance(cells, tuple) else tuple(cells)
            if sort_values:
                self._sort_values[key] = tuple(sort_values[0])
        for key in set(self._widths).difference(self._source):
            del self._widths[key]
        self._apply()

    @property
    def filter(self) -> str:
        return self._filter

    @filter.setter
    def filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        self._apply()

    def sort_by(self, column: str | None, reverse: bool | None = None) -> None:
        """Sort by `column` (None: the data's own order); figures biggest first unless `reverse`."""
        if column is not None and column not in self.column_keys:
            raise ValueError(f"no column {column}")
        self.sort_column = column
        spec = next((c for c in self.spec if c.key == column), None)
        self.sort_reverse = (spec.descending if spec else False) if reverse is None else reverse
        self._apply(rebuild=True)

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

    def value(self, key: str, column: str):
        """What the view gave for this cell, shown or not (its column hidden, its row filtered out)."""
        return self._source[key][self.column_keys.index(column)]

    @property
    def keys(self) -> list[str]:
        """Keys of all rows, shown or filtered out, in data order."""
        return list(self._source)

    @property
    def shown_keys(self) -> list[str]:
        """Keys of the rows on screen, top to bottom."""
        return [row.key.value for row in self.ordered_rows]

    # --- keys and clicks ----------------------------------------------------------------------
    def action_sort_next(self, step: int = 1) -> None:
        keys = [None, *self.column_keys]
        self.sort_by(keys[(keys.index(self.sort_column) + step) % len(keys)])
        self._say_sort()

    def action_sort_previous(self) -> None:
        self.action_sort_next(-1)

    def action_sort_reverse(self) -> None:
        if self.sort_column is None:
            self.sort_by(self.column_keys[0])
        else:
            self.sort_by(self.sort_column, not self.sort_reverse)
        self._say_sort()

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = event.column_key.value
        if column == self.sort_column:
            self.sort_by(column, not self.sort_reverse)
        else:
            self.sort_by(column)

    def _say_sort(self) -> None:
        if self.sort_column is None:
            self.app.notify("Rows in their own order.", timeout=2)
        else:
            label = next(c.label for c in self.spec if c.key == self.sort_column)
            self.app.notify(f"Sorted by {label}{', reversed' if self.sort_reverse else ''}.", timeout=2)

    def on_resize(self, event: events.Resize) -> None:
        self._apply()

    # --- the one place rows change -------------------------------------------------------------
    def _visible(self, cells: tuple) -> bool:
        return not self._filter or any(self._filter in _plain(c).lower() for c in cells)

    def _order(self) -> list[str]:
        keys = list(self._source)  # the data's own order
        if self.sort_column is not None:
            index = self.column_keys.index(self.sort_column)

            def value(key):
                values = self._sort_values.get(key)
                return _sort_key(values[index] if values else self._source[key][index])

            known = sorted((k for k in keys if value(k)[0] == 0), key=value, reverse=self.sort_reverse)
            keys = known + [k for k in keys if value(k)[0] != 0]  # stable; unknowns last either way
        return [k for k in keys if self._visible(self._source[k])]

    def _columns_that_fit(self) -> list[str]:
        """The most important columns whose natural widths fit the table's width, in their own order."""
        available = self.scrollable_content_region.width or self.size.width
        if available <= 0:
            return list(self.column_keys)
        widths = {}
        rows = [self._natural_widths(key, cells) for key, cells in self._source.items()]
        for i, c in enumerate(self.spec):
            label = len(self._label(c))
            natural = max([label] + [row[i] for row in rows])
            widths[c.key] = (min(natural, c.width) if c.width else natural) + 2 * self.cell_padding
        chosen, used = set(), 0
        for c in sorted(self.spec, key=lambda c: c.priority):  # stable: equal priorities keep their order
            if used + widths[c.key] <= available or not chosen:
                chosen.add(c.key)
                used += widths[c.key]
        return [k for k in self.column_keys if k in chosen]

    def _natural_widths(self, key: str, cells: tuple) -> tuple[int, ...]:
        kept = self._widths.get(key)
        if kept is None or kept[0] is not cells:
            kept = self._widths[key] = (cells, tuple(_width(cell) for cell in cells))
        return kept[1]

    def _label(self, column: Column) -> Text:
        arrow = ARROWS[self.sort_reverse] if column.key == self.sort_column else ""
        return Text(column.label + arrow)

    def _apply(self, rebuild: bool = False) -> None:
        if not self.is_mounted:
            return  # on_mount shows the data
        keep = self.cursor_key
        wanted = self._order()
        columns = self._columns_that_fit()
        if rebuild or columns != self.shown_columns:
            self._rebuild(columns, wanted, keep)
            return
        index = [self.column_keys.index(k) for k in columns]
        shown = set(self.shown_keys)
        for key in shown.difference(wanted):
            self.remove_row(key)
            self._shown.pop(key, None)
        for key in wanted:
            source = self._source[key]
            if key in shown and self._shown.get(key) is source:
                continue  # the very cells on screen
            self._shown[key] = source
            cells = [source[i] for i in index]
            if key not in shown:
                self.add_row(*cells, key=key)
                continue
            old = self.get_row(key)
            for column, new, was in zip(columns, cells, old):
                if not _same(new, was):
                    # re-measuring the column is only needed when the cell got wider
                    self.update_cell(key, column, new, update_width=_width(new) > _width(was))
        if self.shown_keys != wanted:
            self._reorder(wanted)
        if keep is not None:
            self.select_key(keep)
        self._tell_if_moved(keep)

    def _tell_if_moved(self, before: str | None) -> None:
        """A row that vanished from under the cursor moves it without DataTable saying so: say it."""
        after = self.cursor_key
        if after != before and after is not None:
            self.post_message(DataTable.RowHighlighted(self, self.cursor_row, RowKey(after)))

    def _reorder(self, wanted: list[str]) -> None:
        """Put the rows in `wanted` order with DataTable.sort, which hands the key function a row's cells
        only: each row is known by the identities of its cell objects (all distinct per row)."""
        rank = {tuple(sorted(map(id, self.get_row(key)))): i for i, key in enumerate(wanted)}
        self.sort(key=lambda cells: rank.get(tuple(sorted(map(id, cells))), len(rank)))

    def _rebuild(self, columns: list[str], wanted: list[str], keep: str | None) -> None:
        """New columns (a resize, a sort arrow): the one place the table is refilled; the cursor's row stays."""
        self.shown_columns = columns
        self.clear(columns=True)
        self._shown = {key: self._source[key] for key in wanted}
        by_key = {c.key: c for c in self.spec}
        for key in columns:
            self.add_column(self._label(by_key[key]), key=key, width=by_key[key].width)
        index = [self.column_keys.index(k) for k in columns]
        for key in wanted:
            self.add_row(*(self._source[key][i] for i in index), key=key)
        if keep is not None:
            self.select_key(keep)
        self._tell_if_moved(keep)
