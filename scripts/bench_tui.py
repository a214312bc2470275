"""Benchmark: how fast the TUI's servers table refreshes and answers a key, with 100 servers.

FAKE DATA: the app talks to an in-memory client that returns 100 `localhub.client.Server` records (no
daemon, no Docker), so only the TUI's own cost is measured. Headless Textual at 120x40 (Pilot), one run,
medians; only the same-run ratios mean much on a shared machine.

  (a) refresh   every poll changes CPU and memory of all 100 rows; the table is updated by key
                (`ServersView.show` -> `KeyedTable.sync`, cell by cell), timed until the next frame is
                composed (layout + compositor render; only the terminal write is left out, headless).
                Baselines in the same run: the same refresh of a 1-row table, and a plain DataTable emptied
                and refilled with `clear()` + `add_rows()` of 100 rows (what "never clear and refill" avoids:
                it also loses the cursor).
  (b) keypress  a `down` key event handed to the driver, until the cursor moved and the frame is composed.
                Baseline: the same key in a bare App holding a plain 100-row DataTable.

The frame is composed by calling the screen's update-timer callback directly (what Pilot does), so the
figures are the work done, without Pilot's idle-polling sleeps or Textual's frame-rate wait.

    .venv/bin/python scripts/bench_tui.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

import textual
from textual import events
from textual.app import App
from textual.widgets import DataTable

from localhub.client import Server
from localhub_tui.app import LocalhubApp
from localhub_tui.screens.servers import COLUMNS, server_cells

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
SIZE = (120, 40)


def fake_servers(n: int, tick: int) -> list[Server]:
    return [Server(name=f"srv-{i:03d}", status="running", ready=True, url=f"http://127.0.0.1:8765/user/u/srv-{i:03d}/",
                   profile="default", image="localhub/singleuser:latest", environment=None,
                   storage_used=(i + 1) * 2**20, storage_cap=2 * 2**30, cpu_percent=(i * 7 + tick) % 100 + 0.5,
                   memory_used=(100 + (i + tick) % 50) * 2**20, last_activity="2026-05-04T11:50:00Z", where="local")
            for i in range(n)]


class FakeClient:
    """Only what the servers tab needs; the launch and environment methods are absent (tabs say so)."""

    def __init__(self, n: int):
        self.n = n

    def info(self) -> dict:
        return {"version": "bench", "url": "http://127.0.0.1:8765", "user": "u", "profiles": [],
                "default_profile": "default", "limits": {}, "engine": {}, "started": NOW.timestamp()}

    def servers(self) -> list[Server]:
        return fake_servers(self.n, 0)


def app_with(n: int) -> LocalhubApp:
    client = FakeClient(n)
    return LocalhubApp("/bench/fake", client_factory=lambda: client, refresh_interval=3600, clock=lambda: NOW)


async def time_refresh(n: int, runs: int) -> list[float]:
    app = app_with(n)
    times = []
    async with app.run_test(size=SIZE) as pilot:
        while app.servers_view.table.row_count < n:
            await pilot.pause(0.05)
        for tick in range(1, runs + 1):
            servers = fake_servers(n, tick)
            await pilot.pause()
            t0 = time.perf_counter()
            app.servers_view.show(servers)
            app.screen._on_timer_update()  # compose the frame now
            times.append(time.perf_counter() - t0)
    return times


class PlainTable(App):
    def compose(self):
        yield DataTable(cursor_type="row")


async def time_clear_refill(n: int, runs: int) -> list[float]:
    times = []
    app = PlainTable()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(DataTable)
        for key, label, *_ in COLUMNS:
            table.add_column(label, key=key)
        for tick in range(1, runs + 1):
            servers = fake_servers(n, tick)
            await pilot.pause()
            t0 = time.perf_counter()
            table.clear()
            table.add_rows(server_cells(s, NOW) for s in servers)  # the same cells the app computes
            app.screen._on_timer_update()
            times.append(time.perf_counter() - t0)
    return times


async def keypress(app: App, table: DataTable) -> float:
    """Seconds from a `down` key reaching the app until the cursor moved and the frame is composed."""
    before = table.cursor_row
    key = events.Key("down", None)
    key.set_sender(app)
    t0 = time.perf_counter()
    app._driver.send_message(key)
    while table.cursor_row == before:
        await asyncio.sleep(0)
    app.screen._on_timer_update()
    return time.perf_counter() - t0


async def time_keypress_app(n: int, runs: int) -> list[float]:
    app = app_with(n)
    times = []
    async with app.run_test(size=SIZE) as pilot:
        table = app.servers_view.table
        while table.row_count < n:
            await pilot.pause(0.05)
        table.focus()
        for _ in range(runs):
            if table.cursor_row >= n - 1:
                table.move_cursor(row=0)
            await pilot.pause()
            times.append(await keypress(app, table))
    return times


async def time_keypress_plain(n: int, runs: int) -> list[float]:
    app = PlainTable()
    times = []
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(DataTable)
        for key, label, *_ in COLUMNS:
            table.add_column(label, key=key)
        table.add_rows(server_cells(s, NOW) for s in fake_servers(n, 0))
        table.focus()
        for _ in range(runs):
            if table.cursor_row >= n - 1:
                table.move_cursor(row=0)
            await pilot.pause()
            times.append(await keypress(app, table))
    return times


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.2f} ms (p90 {sorted(values)[int(len(values) * 0.9) - 1] * 1000:.2f})"


async def main(runs: int) -> None:
    print("localhub TUI benchmark — FAKE client: 100 in-memory localhub.client.Server records, no daemon")
    print(f"Textual {textual.__version__}, Python {platform.python_version()}, headless {SIZE[0]}x{SIZE[1]}, "
          f"median of {runs} runs\n")
    refresh100 = await time_refresh(100, runs)
    refresh1 = await time_refresh(1, runs)
    refill100 = await time_clear_refill(100, runs)
    key_app = await time_keypress_app(100, runs)
    key_plain = await time_keypress_plain(100, runs)
    m = statistics.median
    print(f"(a) refresh of 100 rows, all changed, updated by key   {ms(refresh100)}")
    print(f"    baseline: same refresh of a 1-row table            {ms(refresh1)}   ratio {m(refresh100) / m(refresh1):.1f}x")
    print(f"    baseline: plain DataTable clear() + add_rows(100)  {ms(refill100)}   ratio {m(refresh100) / m(refill100):.2f}x")
    print(f"(b) keypress 'down' -> screen updated, 100-row table   {ms(key_app)}")
    print(f"    baseline: same key in a bare 100-row DataTable     {ms(key_plain)}   ratio {m(key_app) / m(key_plain):.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    sys.exit(asyncio.run(main(parser.parse_args().runs)))
