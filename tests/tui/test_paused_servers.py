"""A paused server in the TUI (localhub/pausing.py): the servers table says so with the memory it holds,
the palette offers to resume it, and `s` resumes it through the client (whose start resumes a paused server)."""

from __future__ import annotations

import pytest

from localhub_tui.app import LocalhubApp

from .fakes import NOW, FakeClient, sample_servers, server
from .helpers import until

pytestmark = pytest.mark.unit


def make_app(client) -> LocalhubApp:
    return LocalhubApp("/nonexistent/state", client_factory=lambda: client, clock=lambda: NOW,
                       opener=lambda url: None, refresh_interval=0.2)


async def test_a_paused_server_is_shown_paused_and_s_resumes_it():
    dozy = server("dozy", status="paused", ready=True, memory_used=210 * 2**20, cpu_percent=0.0)
    fake = FakeClient(servers=[*sample_servers(), dozy])
    app = make_app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.servers_view.table
        await until(pilot, lambda: table.row_count == 5, what="five rows")
        assert "paused" in table.value("dozy", "status").plain
        assert table.value("dozy", "memory").plain.startswith("210")
        titles = {e.title for e in app.palette_entries()}
        assert "Resume server 'dozy'" in titles and "Start server 'dozy'" not in titles
        table.select_key("dozy")
        await pilot.press("s")
        await until(pilot, lambda: ("start_server", "dozy") in fake.calls, what="the client asked to resume it")
        await until(pilot, lambda: "running" in table.value("dozy", "status").plain, what="dozy running")
