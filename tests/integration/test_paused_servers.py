"""Paused, not stopped (localhub/pausing.py, hub/resume.py), on the real engine and a real hub with a short
`pause_after`: an idle server is frozen with its memory kept and shown as paused; a request through the proxy
resumes it and is answered; a busy kernel or an open websocket keeps it running; a paused server is stopped
cleanly at the idle stop with its home kept; the memory cap stops paused servers, oldest first."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from contextlib import closing

import docker
import httpx
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

pytestmark = pytest.mark.docker

PAUSE_AFTER = 4  # seconds; the pauser then looks every second


@pytest.fixture(scope="module")
def pausing_hub(hub_factory):
    hub = hub_factory.start("pausing", pause_after=PAUSE_AFTER)
    yield hub
    hub_factory.close(hub)


def container_of(hub, server: str):
    name = f"localhub-{hub.instance}-{hub.user}--{server}"
    with closing(docker.from_env()) as engine:
        return engine.containers.get(name)


def state_of(hub, server: str) -> str:
    return container_of(hub, server).status


def wait_for(condition, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    return condition()


def base(hub, server: str) -> str:
    return f"{hub.url}/user/{hub.user}/{server}"


def write_home_file(hub, server: str, name: str, text: str) -> None:
    """Through the proxy, as a browser saves a file: a server paused meanwhile (pause_after is seconds here, and
    a loaded machine takes that long between two steps) is resumed for it, where `docker exec` is refused."""
    r = httpx.put(f"{base(hub, server)}/api/contents/{name}", json={"type": "file", "format": "text", "content": text},
                  headers={"Authorization": f"token {hub.token}"}, timeout=60)
    assert r.status_code in (200, 201), r.text


def read_home_file(hub, server: str, name: str) -> str:
    r = httpx.get(f"{base(hub, server)}/api/contents/{name}", headers={"Authorization": f"token {hub.token}"},
                  timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["content"]


def listed(hub, server: str) -> dict:
    (entry,) = [s for s in json.loads(hub.cli("servers", "ls", "--json").stdout) if s["name"] == server]
    return entry


def test_an_idle_server_is_paused_shown_so_and_a_request_resumes_it(pausing_hub):
    hub = pausing_hub
    list(hub.client.create_server("dozy"))
    write_home_file(hub, "dozy", "notes.txt", "kept")

    assert wait_for(lambda: state_of(hub, "dozy") == "paused", 60), "the idle server was not paused"
    entry = listed(hub, "dozy")
    assert entry["status"] == "paused" and entry["ready"]
    assert wait_for(lambda: listed(hub, "dozy")["memory_used"], 20), "the memory a paused server holds is not shown"
    assert "paused" in hub.cli("servers", "ls").stdout

    # the first request through the proxy resumes it, and is answered
    r = httpx.get(f"{base(hub, 'dozy')}/api/contents/notes.txt", headers={"Authorization": f"token {hub.token}"},
                  timeout=30)
    assert r.status_code == 200 and r.json()["name"] == "notes.txt"
    assert state_of(hub, "dozy") == "running"
    assert hub.client.server("dozy").status == "running"

    # idle again, paused again; `servers start` resumes it, and so does `servers open`
    assert wait_for(lambda: state_of(hub, "dozy") == "paused", 60)
    out = hub.cli("servers", "start", "dozy").stdout
    assert state_of(hub, "dozy") == "running", out
    assert wait_for(lambda: state_of(hub, "dozy") == "paused", 60)
    hub.cli("servers", "open", "dozy")
    assert state_of(hub, "dozy") == "running"
    hub.cli("servers", "delete", "dozy", "--yes")


async def _open_kernel(url: str, token: str, run: str | None = None):
    """A kernel on the server, its websocket open; with `run`, that code is sent to execute."""
    headers = {"Authorization": f"token {token}"}
    async with httpx.AsyncClient(timeout=60, headers=headers) as http:
        r = await http.post(f"{url}/api/kernels", json={"name": "python3"})
        assert r.status_code == 201, r.text
        kernel = r.json()["id"]
    ws = await websocket_connect(HTTPRequest(url.replace("http://", "ws://", 1) + f"/api/kernels/{kernel}/channels",
                                             headers=headers, connect_timeout=30))
    if run:
        await ws.write_message(json.dumps({
            "header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                       "username": "test", "date": "", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": run, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        while True:  # until the kernel says it is busy with it
            msg = json.loads(await asyncio.wait_for(ws.read_message(), 30))
            if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "busy":
                break
    return kernel, ws


def test_an_open_websocket_keeps_a_server_running(pausing_hub):
    hub = pausing_hub
    list(hub.client.create_server("watched"))

    async def scenario():
        kernel, ws = await _open_kernel(base(hub, "watched"), hub.token)
        # a notebook open in a browser, quiet: well past pause_after, the server is still running
        await asyncio.sleep(PAUSE_AFTER * 3 + 3)
        still = state_of(hub, "watched")
        ws.close()
        return still

    assert asyncio.run(scenario()) == "running"
    # closed: nothing holds it any more
    assert wait_for(lambda: state_of(hub, "watched") == "paused", 60)
    hub.cli("servers", "delete", "watched", "--yes")


def test_a_busy_kernel_keeps_a_server_running(pausing_hub):
    hub = pausing_hub
    list(hub.client.create_server("busy"))
    work = PAUSE_AFTER * 3 + 6

    async def scenario():
        kernel, ws = await _open_kernel(base(hub, "busy"), hub.token, run=f"import time; time.sleep({work})")
        ws.close()  # the browser went away; the kernel keeps working, quietly
        await asyncio.sleep(PAUSE_AFTER * 3)
        return state_of(hub, "busy")

    assert asyncio.run(scenario()) == "running"
    # the work done and idle for pause_after: paused
    assert wait_for(lambda: state_of(hub, "busy") == "paused", 60)
    hub.cli("servers", "delete", "busy", "--yes")


class DeathWatch:
    """The `die` event of a container, read live (the engine keeps only its last 256 events: on a busy machine
    asking afterwards finds nothing)."""

    def __init__(self, container_id: str):
        self.events: list[dict] = []
        self._engine = docker.from_env()
        self._stream = self._engine.api.events(decode=True, filters={"container": container_id, "event": "die"})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                self.events.append(event)
        except Exception:
            pass  # closed

    def exit_code(self, timeout: float = 30) -> str | None:
        wait_for(lambda: self.events, timeout, 0.1)
        self._stream.close()
        self._engine.close()
        return self.events[0]["Actor"]["Attributes"]["exitCode"] if self.events else None


def test_a_paused_server_is_stopped_cleanly_at_the_idle_stop_with_its_home_kept(hub_factory):
    hub = hub_factory.start("paused-culled", pause_after=2, idle_timeout=25, cull_every=3)
    list(hub.client.create_server("resting"))
    container = container_of(hub, "resting")
    write_home_file(hub, "resting", "draft.txt", "chapter-2")
    assert wait_for(lambda: state_of(hub, "resting") == "paused", 60)
    death = DeathWatch(container.id)

    assert wait_for(lambda: hub.client.server("resting").status == "stopped", 120), "the idle stop never came"
    assert death.exit_code() == "0"  # SIGTERM reached a running server: a clean shutdown
    hub.cli("servers", "start", "resting")
    assert read_home_file(hub, "resting", "draft.txt") == "chapter-2"
    hub_factory.close(hub)


def test_the_memory_cap_stops_paused_servers_with_their_files_kept(hub_factory):
    # 1 MiB: no paused server fits, so each is stopped (which goes first is a unit test: test_pausing.py)
    hub = hub_factory.start("paused-capped", pause_after=2, paused_memory_cap=1)
    list(hub.client.create_server("first"))
    write_home_file(hub, "first", "a.txt", "one")
    death = DeathWatch(container_of(hub, "first").id)
    list(hub.client.create_server("second"))

    def stopped() -> set:
        return {s.name for s in hub.client.servers() if s.status == "stopped"}

    assert wait_for(lambda: "first" in stopped(), 90), "the paused server over the cap was not stopped"
    assert wait_for(lambda: stopped() == {"first", "second"}, 90)
    assert death.exit_code() == "0"
    hub.cli("servers", "start", "first")
    assert read_home_file(hub, "first", "a.txt") == "one"
    hub_factory.close(hub)


def test_a_hub_restart_keeps_a_paused_server(pausing_hub):
    """A restarted JupyterHub checks each running server over HTTP and stops those that do not answer within
    http_timeout (60 s here): a frozen one must be resumed for that check, not taken for dead."""
    hub = pausing_hub
    list(hub.client.create_server("sleeper"))
    assert wait_for(lambda: state_of(hub, "sleeper") == "paused", 60)
    hub.cli("restart")
    time.sleep(70)  # past the hub's check of its servers; nobody asks for this one meanwhile
    assert hub.client.server("sleeper").status in ("paused", "running")
    r = httpx.get(f"{base(hub, 'sleeper')}/api/status", headers={"Authorization": f"token {hub.token}"}, timeout=30)
    assert r.status_code == 200
    hub.cli("servers", "delete", "sleeper", "--yes")
