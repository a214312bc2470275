"""The details pane of the Servers tab: everything about the selected server (image, volume, limits,
container, where, since), its storage against the cap as a bar, and charts of its recent CPU and memory.
Enter on the table shows or hides it; it follows the cursor and the poll."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from .. import format as fmt
from ..widgets.charts import UsageChart, bar

SAMPLE_SECONDS = 5.0  # the daemon's sampling interval: what one column of a chart stands for


def cpu_values(server) -> list[float | None]:
    return [cpu for _, cpu, _ in server.usage_history or []]


def memory_values(server) -> list[float | None]:
    return [memory for _, _, memory in server.usage_history or []]


def sample_interval(server) -> float:
    """Seconds between two samples of this server's history, as the daemon took them."""
    times = [t for t, _, _ in server.usage_history or []]
    if len(times) >= 2 and times[-1] > times[0]:
        return (times[-1] - times[0]) / (len(times) - 1)
    return SAMPLE_SECONDS


def cpus(n: float | None) -> str:
    return fmt.DASH if n is None else f"{n:g} CPU{'' if n == 1 else 's'}"


def facts_table(server, now, width: int) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="dim", justify="right", no_wrap=True)
    grid.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
    image = server.image or fmt.DASH
    if server.environment:
        image = f"{fmt.short_spec(server.environment, 200)} → {image}"
    where = server.where + (f" ({server.notice})" if getattr(server, "notice", None) else "")
    rows = [
        ("image", image),
        ("profile", f"{server.profile or fmt.DASH} · {cpus(server.cpu_limit)} · "
                    f"{fmt.size(server.memory_limit)} memory · {fmt.size(server.storage_cap)} storage"),
        ("volume", server.volume),
        ("container", f"{server.container} ({server.container_state})" if server.container else "none"),
        ("where", f"{where} · {since_text(server, now)}"),
    ]
    for label, value in rows:
        grid.add_row(label, Text(str(value) if value else fmt.DASH))
    grid.add_row("storage", storage_text(server, width - 14))
    return grid


def since_text(server, now) -> str:
    if server.started and server.status != "stopped":
        return f"started {fmt.ago(server.started, now)}; last active {fmt.ago(server.last_activity, now)}"
    state = "stopped" if server.status == "stopped" else server.status
    if server.last_activity:
        return f"{state}; last active {fmt.ago(server.last_activity, now)}"
    return state


def storage_text(server, width: int) -> Text:
    """Storage used against the cap: a bar, then the figures ('48.0 MiB of 2.0 GiB, 2 %')."""
    used, cap = server.storage_used, server.storage_cap
    if used is None:
        return Text(fmt.DASH)
    if not cap:
        return Text(fmt.size(used))
    figures = f" {fmt.size(used)} of {fmt.size(cap)}, {used / cap:.0%}"
    text = bar(used, cap, min(max(width - len(figures), 8), 40))
    text.append(figures, style="bold red" if used > cap * 0.9 else "")
    return text


class ServerDetails(Vertical):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.server = None

    def compose(self) -> ComposeResult:
        yield Static("", id="details-facts")
        with Horizontal(id="details-charts"):
            yield UsageChart("CPU", "percent", "green", id="cpu-chart")
            yield UsageChart("Memory", "bytes", "cyan", id="memory-chart")

    def show(self, server, now) -> None:
        """Show `server` (a localhub.client.Server), or say none is selected."""
        self.server = server
        facts = self.query_one("#details-facts", Static)
        if server is None:
            self.border_title = "Details"
            facts.update(Text("No server selected.", style="dim"))
            self.query_one("#details-charts").display = False
            return
        self.border_title = f"{server.name or '(default)'} · {server.status}"
        facts.update(facts_table(server, now, self.content_region.width or 78))
        charts = self.query_one("#details-charts")
        charts.display = True
        interval = sample_interval(server)
        self.query_one("#cpu-chart", UsageChart).show(
            cpu_values(server), (server.cpu_limit or 0) * 100 or None,
            cpus(server.cpu_limit) if server.cpu_limit else "", interval)
        self.query_one("#memory-chart", UsageChart).show(
            memory_values(server), server.memory_limit,
            fmt.size(server.memory_limit) if server.memory_limit else "", interval)

    def on_resize(self) -> None:
        if self.server is not None:
            self.query_one("#details-facts", Static).update(
                facts_table(self.server, self.app.clock(), self.content_region.width))
