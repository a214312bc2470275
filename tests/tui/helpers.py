"""Helpers shared by the TUI tests."""

from __future__ import annotations

import subprocess
import time

from localhub.errors import LocalhubError


async def until(pilot, predicate, timeout: float = 60, what: str = "the condition") -> None:
    """Let the app run until `predicate()` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def delete_all_servers(hub) -> None:
    client = hub.client
    for server in client.servers():
        try:
            client.delete_server(server.name)
        except LocalhubError:
            pass


def volume_exists(hub, server: str) -> bool:
    """Whether the server's home volume (named as localhub names it) is still on the engine."""
    name = f"localhub-{hub.instance}-{hub.user}--{server}"
    out = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name=^{name}$"],
                         capture_output=True, text=True).stdout
    return name in out.split()
