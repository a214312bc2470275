"""The hub's proxy forwards encoded slashes untouched, streams Server-Sent Events live, and streams request
bodies upstream under a cap set by route (never holding a body whole).

Runs the real proxy in front of a real upstream server both ways it runs: inside JupyterHub's process, its routes
added by JupyterHub's own proxy code (hub_proxy.py, as localhub runs it), and as a process of its own
(python -m localhub.hub.proxy)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from tornado import ioloop, web

from tests.support.hubs import free_port_block

pytestmark = pytest.mark.unit


class Echo(web.RequestHandler):
    def get(self, _):
        self.write({"path": self.request.path, "query": self.request.query})


@web.stream_request_body
class Counter(web.RequestHandler):
    """Counts the body it receives as it streams in (and how much arrived before the body was complete)."""

    def prepare(self):
        self.request.connection.set_max_body_size(2**31)
        self.received = 0

    def data_received(self, chunk):
        self.received += len(chunk)

    def post(self, _):
        self.write({"received": self.received})

    put = post


class SlowEvents(web.RequestHandler):
    async def get(self):
        self.set_header("Content-Type", "text/event-stream")
        for i in range(3):
            self.write(f"data: {{\"n\": {i}, \"t\": {time.time()}}}\n\n")
            await self.flush()
            await ioloop.IOLoop.current().run_in_executor(None, time.sleep, 1.0)
        self.finish()


RELEASED = threading.Event()


class HeldEvents(web.RequestHandler):
    """An event stream that stays open (as a build's log or a spawn's progress does) until the test releases it."""

    async def get(self, _):
        self.set_header("Content-Type", "text/event-stream")
        self.write("data: {}\n\n")
        await self.flush()
        deadline = time.monotonic() + 60
        while not RELEASED.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.finish()


def serve(handlers: list) -> str:
    """The URL of a tornado app with these handlers, served from a thread of its own."""
    port = free_port_block(1, start=24000)
    ready = threading.Event()

    def run():
        loop = ioloop.IOLoop()
        asyncio.set_event_loop(loop.asyncio_loop)
        web.Application(handlers).listen(port, "127.0.0.1")
        loop.add_callback(ready.set)
        loop.start()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(10)
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def upstream():
    return serve([(r"/echo/(.*)", Echo), (r"/events", SlowEvents), (r"/user/(.*)", Counter), (r"/hub/(.*)", Counter),
                  (r"/held/(.*)", HeldEvents)])


class ProxyURL(str):
    def __new__(cls, url: str, pid: int):
        made = super().__new__(cls, url)
        made.pid = pid
        return made


@pytest.fixture(scope="module", params=["in JupyterHub", "process"])
def proxy(upstream, request):
    if request.param == "in JupyterHub":
        yield from in_jupyterhub(upstream)
        return
    port = free_port_block(2, start=24100)
    token = "test-token"
    proc = subprocess.Popen([sys.executable, "-m", "localhub.hub.proxy", "--ip", "127.0.0.1", "--port", str(port),
                             "--api-ip", "127.0.0.1", "--api-port", str(port + 1), "--default-target", upstream],
                            env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": token},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port + 1}/api/routes", headers={"Authorization": f"token {token}"})
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    httpx.post(f"http://127.0.0.1:{port + 1}/api/routes/user/ada", json={"target": upstream},
               headers={"Authorization": f"token {token}"})
    yield ProxyURL(f"http://127.0.0.1:{port}", proc.pid)
    proc.terminate()
    proc.wait(10)


JUPYTERHUB_THREAD = "jupyterhub's event loop"


def in_jupyterhub(upstream: str):
    """JupyterHub's proxy object as localhub configures it (hub_proxy.InProcessProxy), started on an event loop of
    its own thread, standing in for JupyterHub's; routes are added by JupyterHub's own Proxy code, through the API."""
    from types import SimpleNamespace

    from localhub.hub.hub_proxy import InProcessProxy

    port = free_port_block(2, start=24200)
    loop = ioloop.IOLoop(make_current=False)
    threading.Thread(target=loop.start, name=JUPYTERHUB_THREAD, daemon=True).start()

    def run(coroutine_function, *args):
        return asyncio.run_coroutine_threadsafe(coroutine_function(*args), loop.asyncio_loop).result(30)

    async def start():
        made = InProcessProxy(public_url=f"http://127.0.0.1:{port}/", api_url=f"http://127.0.0.1:{port + 1}",
                              auth_token="test-token", hub=SimpleNamespace(url=f"{upstream}/hub/"),
                              app=SimpleNamespace(subdomain_host="", internal_ssl=False))
        await made.start()
        await made.add_route("/", upstream, {})
        await made.add_route("/user/ada/", upstream, {"user": "ada"})
        return made

    made = run(start)
    yield ProxyURL(f"http://127.0.0.1:{port}", os.getpid())

    async def stop():
        made.stop()

    run(stop)
    loop.add_callback(loop.stop)


def test_encoded_slashes_arrive_encoded(proxy):
    spec = "/echo/build/git/https%3A%2F%2Fexample.org%2Frepo.git/feature%2Fx"
    r = httpx.get(proxy + spec + "?urlpath=lab%2Ftree%2Fa.ipynb")
    assert r.status_code == 200
    assert r.json() == {"path": spec, "query": "urlpath=lab%2Ftree%2Fa.ipynb"}


def test_events_stream_live_and_outlast_short_timeouts(proxy):
    arrivals = []
    with httpx.stream("GET", proxy + "/events", timeout=30) as r:
        assert r.headers["content-type"] == "text/event-stream"
        for line in r.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic())
    assert len(arrivals) == 3
    # the first event arrived about two seconds before the last: not buffered until the end
    assert arrivals[-1] - arrivals[0] > 1.5


def test_many_open_event_streams_leave_room_for_other_requests(proxy):
    """20 concurrent launches each hold a build stream and a progress stream open: the proxy's HTTP client
    queued every request past its 10th (tornado's default) and refused it 20 s later (503 "Timeout in request
    queue"), so launches failed and the hub's own API stopped answering."""
    first_events: list[int] = []

    def hold(i: int) -> None:
        with httpx.stream("GET", f"{proxy}/held/{i}", timeout=40) as r:
            lines = r.iter_lines()
            for line in lines:
                if r.status_code == 200 and line.startswith("data:"):
                    first_events.append(i)
                    break
            for _ in lines:  # hold the stream open until the server lets it go
                pass

    RELEASED.clear()
    threads = [threading.Thread(target=hold, args=(i,), daemon=True) for i in range(30)]
    try:
        for t in threads:
            t.start()
        other = httpx.get(proxy + "/echo/while-streams-are-open", timeout=40)
        deadline = time.monotonic() + 40
        while len(first_events) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert other.status_code == 200 and other.json()["path"] == "/echo/while-streams-are-open"
        assert sorted(first_events) == list(range(30))  # every stream answered while the others stayed open
    finally:
        RELEASED.set()
        for t in threads:
            t.join(45)


def rss(pid: int) -> int:
    import psutil

    return psutil.Process(pid).memory_info().rss


def test_a_large_upload_to_a_server_is_streamed_not_held(proxy):
    before = rss(proxy.pid)
    chunks = (b"x" * 2**20 for _ in range(200))  # 200 MiB, sent as it is made
    r = httpx.post(proxy + "/user/ada/api/contents/big", content=chunks, timeout=120)
    assert r.status_code == 200 and r.json() == {"received": 200 * 2**20}
    assert rss(proxy.pid) - before < 64 * 2**20  # the proxy never held the body


def test_a_large_body_to_the_hub_is_refused_before_it_is_read(proxy):
    r = httpx.post(proxy + "/hub/api/users", content=b"x" * (17 * 2**20), timeout=60)
    assert r.status_code == 413 and "at most 16 MiB" in r.text
    small = httpx.post(proxy + "/hub/api/users", content=b"x" * 1000, timeout=60)
    assert small.status_code == 200 and small.json() == {"received": 1000}


def test_inside_jupyterhub_its_log_names_refused_requests_only(proxy, caplog):
    """Inside JupyterHub, tornado's access log is JupyterHub's log: a line for every request a server's page makes
    would bury what it says. Refused and failed ones are still named."""
    if proxy.pid != os.getpid():
        pytest.skip("the proxy's own process logs to its own output")
    caplog.set_level(logging.INFO, logger="tornado.access")
    assert httpx.get(proxy + "/echo/fine").status_code == 200
    assert httpx.post(proxy + "/hub/api/users", content=b"x" * (17 * 2**20), timeout=60).status_code == 413
    time.sleep(0.2)  # the log line is written by the proxy's thread once it has answered
    lines = [r.getMessage() for r in caplog.records  # the upstream's own log is in the same process
             if r.name == "tornado.access" and r.threadName == JUPYTERHUB_THREAD]
    assert not [line for line in lines if "/echo/fine" in line], lines
    assert [line for line in lines if line.startswith("413 POST /hub/api/users")], lines
