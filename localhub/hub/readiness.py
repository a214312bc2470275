"""When is a server ready? When *its* container runs and answers HTTP — checked by container, not by address.

JupyterHub's own check asks `ip:port` and takes any answer as ready. A container that dies during start frees
its address, Docker hands it to the next container, and that check then sees another server. So the spawner
waits here before it returns the address: the container is inspected, its address probed every few hundredths
of a second (not JupyterHub's growing back-off), and an answer counts only if the same container still runs
with the same address afterwards (an address is never reassigned while its container runs). The container's
`die` event (container_events.py) ends the wait at once. JupyterHub's own check then succeeds on its first try.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError

from ..errors import shown

PROBE_EVERY = 0.02  # seconds between HTTP probes while a server starts (a refused connect costs ~0.1 ms)
INSPECT_EVERY = 1.0  # re-read the container's state at least this often, events or not
REMOTE_PROBE_EVERY = 0.05  # through a guest's tunnel each probe is a TLS handshake with the peer
LOG_LINES = 20  # kept in the browser's error page; the CLI's sentence quotes the last few


@dataclass
class Stopped(Exception):
    """The container stopped (or vanished) before it answered."""

    exit_code: int | None
    oom_killed: bool = False
    error: str = ""


class NeverAnswered(Exception):
    """The container kept running but did not answer HTTP in time."""


def running(state: dict | None) -> bool:
    return bool(state and state.get("State", {}).get("Running"))


def address(state: dict, network: str) -> str:
    return ((state.get("NetworkSettings") or {}).get("Networks") or {}).get(network, {}).get("IPAddress") or ""


def stopped(state: dict | None) -> Stopped:
    if not state:
        return Stopped(None)
    s = state.get("State", {})
    return Stopped(s.get("ExitCode"), bool(s.get("OOMKilled")), s.get("Error") or "")


async def probe(url: str) -> bool:
    """True if something answers at `url` with a non-5xx status (JupyterHub's own rule)."""
    request = HTTPRequest(url, connect_timeout=1, request_timeout=3, follow_redirects=False)
    try:
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except (OSError, StreamClosedError, HTTPClientError, asyncio.TimeoutError):
        return False  # nothing listens yet (refused), or it went away mid-answer
    return response.code < 500


async def wait_until_ready(inspect: Callable[[], Awaitable[dict | None]], died: asyncio.Future, network: str,
                           port: int, path: str, timeout: float,
                           answers: Callable[[str], Awaitable[bool]] = probe) -> str:
    """The container's address on `network` once it answers at `path`. Raises Stopped if it stops first (its
    `die` event resolves `died`) and NeverAnswered after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    state = await inspect()
    inspected = loop.time()
    while True:
        if not running(state):
            raise stopped(state)
        ip = address(state, network)
        if ip and await answers(f"http://{ip}:{port}{path}"):
            again = await inspect()
            if running(again) and address(again, network) == ip and \
                    again["State"].get("StartedAt") == state["State"].get("StartedAt"):
                return ip
            state, inspected = again, loop.time()
            continue  # the answer came from elsewhere: this container stopped meanwhile
        if loop.time() >= deadline:
            raise NeverAnswered()
        await asyncio.wait([died], timeout=PROBE_EVERY)
        if died.done() or not ip or loop.time() - inspected >= INSPECT_EVERY:
            state, inspected = await inspect(), loop.time()


async def wait_until_answers(url: str, exited: Callable[[], Awaitable[int | None]], timeout: float,
                             answers: Callable[[str], Awaitable[bool]] = probe) -> None:
    """For a server whose container this process cannot inspect (a guest on a lab peer, reached through its own
    TLS tunnel, whose pinned certificate no other container has): return once `url` answers, probed every
    REMOTE_PROBE_EVERY; `exited` (None while it runs, else its exit status) is asked about once a second and
    raises Stopped; NeverAnswered after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    asked = loop.time()
    while not await answers(url):
        if loop.time() - asked >= INSPECT_EVERY:
            status = await exited()
            asked = loop.time()
            if status is not None:
                raise Stopped(status)
        if loop.time() >= deadline:
            raise NeverAnswered()
        await asyncio.sleep(REMOTE_PROBE_EVERY)


def describe_stop(server: str, stop: Stopped, memory_limit: str, log_lines: list[str]) -> tuple[str, str]:
    """What the user reads when a server stopped during start: one sentence (with the log's last lines,
    escaped and bounded) and the same as HTML for JupyterHub's error page."""
    if stop.exit_code is None:
        what = "its container vanished while it was starting"
    elif stop.oom_killed:
        what = (f"it ran out of memory while starting: the kernel killed it at its {memory_limit} limit "
                f"(exit code {stop.exit_code}); use a profile with more memory")
    else:
        what = f"its container stopped while starting, with exit code {stop.exit_code}"
        if stop.error:
            what += f" ({shown(stop.error, 200)})"
    lines = [line.rstrip() for line in log_lines if line.strip()]
    if lines:
        quoted = " | ".join(shown(line, 160) for line in lines[-3:])
        text = (f"Server '{server}' did not start: {what}. Its log ends with: {quoted} "
                f"(`localhub servers logs {server}` shows more).")
    else:
        text = f"Server '{server}' did not start: {what}, and wrote nothing to its log."
    shown_lines = "\n".join(html.escape(shown(line, 500)) for line in lines[-LOG_LINES:])
    page = f"<p>{html.escape(text.split(' Its log ends with')[0].rstrip('.'))}.</p>"
    if lines:
        page += f"<p>The last lines of its log:</p><pre>{shown_lines}</pre>"
    return text, page


def describe_silence(server: str, seconds: float, log_lines: list[str]) -> str:
    lines = [line.rstrip() for line in log_lines if line.strip()]
    tail = (" Its log ends with: " + " | ".join(shown(line, 160) for line in lines[-3:])) if lines else ""
    return (f"Server '{server}' did not answer within {seconds:g} s of starting, so it was stopped "
            f"(is the image's command a Jupyter server on port 8888?).{tail}")
