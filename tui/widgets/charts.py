"""Pictures of figures: one-line sparklines for table cells, a few-lines-high chart of a server's recent
CPU or memory use, and a bar of storage used against its cap.

Everything is drawn against a fixed top (the server's limit) rather than the data's own maximum, so a
flat line means "little of what it may use" and a full bar means "at its limit". Newest samples are on
the right; missing samples (before the server started) are blank.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from .. import format as fmt

BLOCKS = " ▁▂▃▄▅▆▇█"  # eighths of a cell, from empty to full


def _recent(values: Sequence[float | None], width: int) -> list[float | None]:
    """The newest `width` values, padded with None on the left (older samples fall off the left)."""
    values = list(values)[-width:]
    return [None] * (width - len(values)) + values


def _eighths(value: float | None, top: float, cells: int) -> int:
    """How many eighths of `cells` stacked cells `value` fills; a value above zero shows at least one."""
    if value is None or top <= 0:
        return 0
    share = min(max(value / top, 0.0), 1.0)
    return max(round(share * cells * 8), 1 if value > 0 else 0)


def sparkline(values: Sequence[float | None], width: int, top: float, style: str = "") -> Text:
    """A one-line picture of `values` scaled 0..`top`; an idle but running sample still shows ▁."""
    cells = []
    for value in _recent(values, width):
        cells.append(" " if value is None else BLOCKS[max(_eighths(value, top, 1), 1)])
    return Text("".join(cells), style=style)


def chart_rows(values: Sequence[float | None], width: int, height: int, top: float) -> list[str]:
    """`height` lines, top line first, of a column chart of the newest `width` values scaled 0..`top`."""
    # a known sample draws at least ▁, so the span the history covers shows even when idle
    filled = [0 if v is None else max(_eighths(v, top, height), 1) for v in _recent(values, width)]
    rows = []
    for line in reversed(range(height)):
        rows.append("".join(BLOCKS[min(max(f - line * 8, 0), 8)] for f in filled))
    return rows


def bar(used: float | None, cap: float | None, width: int) -> Text:
    """A horizontal bar of `used` against `cap` on a dim track, yellow past 75 %, red past 90 %."""
    if used is None or not cap or width <= 0:
        return Text(" " * max(width, 0))
    share = min(max(used / cap, 0.0), 1.0)
    halves = round(share * width * 2)
    if used > 0:
        halves = max(halves, 1)  # anything stored shows
    style = "bold red" if share > 0.9 else "yellow" if share > 0.75 else "green"
    text = Text("━" * (halves // 2) + ("╸" if halves % 2 else ""), style=style)
    text.append("━" * (width - text.cell_len), style="dim")
    return text


class UsageChart(Widget):
    """A labelled chart of one figure's recent history; it draws to its own width."""

    DEFAULT_CSS = """
    UsageChart {
        height: 5;
        width: 1fr;
    }
    """

    samples: reactive[tuple] = reactive((), layout=False)

    def __init__(self, title: str, unit: str, style: str, **kwargs):
        """`unit`: "percent" (CPU % of one core) or "bytes"."""
        super().__init__(**kwargs)
        self.title = title
        self.unit = unit
        self.chart_style = style
        self.top: float = 0.0
        self.limit_text = ""
        self.interval: float = 5.0

    def show(self, values: Sequence[float | None], top: float | None, limit_text: str,
             interval: float) -> None:
        self.top = top or max([v for v in values if v is not None] or [0]) or 1.0
        self.limit_text = limit_text
        self.interval = interval
        self.samples = tuple(values)

    def _figure(self, value: float | None) -> str:
        return fmt.percent(value) if self.unit == "percent" else fmt.size(value)

    def render(self) -> Text:
        width = max(self.size.width, 10)
        height = max(self.size.height - 1, 1)
        known = [v for v in self.samples if v is not None]
        head = Text.assemble((self.title, "bold"), f" {self._figure(known[-1]) if known else fmt.DASH}")
        # what else fits, most useful first: the limit it is drawn against, the time it spans, the peak
        extras = [f" of {self.limit_text}" if self.limit_text else "",
                  f" · last {fmt.duration(len(self.samples) * self.interval)}" if self.samples else " · no samples yet",
                  f" · peak {self._figure(max(known))}" if known else ""]
        for extra in extras:
            if extra and head.cell_len + len(extra) <= width:
                head.append(extra, style="dim")
        text = Text()
        text.append_text(head)
        for row in chart_rows(self.samples, width, height, self.top):
            text.append("\n")
            text.append(row, style=self.chart_style)
        return text
