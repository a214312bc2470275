"""Pausing's decisions (localhub/pausing.py) with fake parts, and the proxy's resume-before-forward
(hub/resume.py) in the real proxy process in front of a fake Docker engine. The real engine and hub are in
tests/integration/test_paused_servers.py."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from tornado import httpserver, ioloop, netutil, web

from localhub.hub.resume import PAUSED, Resumer
from localhub.pausing import Activity, Pauser, activity_from, over_the_cap, why_not_pause
from tests.support.hubs import free_port_block

pytestmark = pytest.mark.unit

NOW = 1_000_000.0
MiB = 1024 * 1024


# --- the decisions ---------------------------------------------------------------------------------------
def test_only_an_idle_server_without_connections_or_busy_kernels_may_be_paused():
    idle = Activity(last_activity=NOW - 700, connections=0, busy_kernels=0)
    assert why_not_pause(idle, since=0, now=NOW, pause_after=600) is None
    assert "connection" in why_not_pause(Activity(NOW - 700, 1, 0), 0, NOW, 600)
    assert "busy" in why_not_pause(Activity(NOW - 700, 0, 1), 0, NOW, 600)
    assert "active" in why_not_pause(Activity(NOW - 100, 0, 0), 0, NOW, 600)
    # activity known from elsewhere (JupyterHub's, a resume) counts as well
    assert "active" in why_not_pause(idle, since=NOW - 10, now=NOW, pause_after=600)
    assert why_not_pause(None, 0, NOW, 600)  # a server that does not answer is not judged idle


def test_the_servers_own_words_make_its_activity():
    status = {"last_activity": "2026-12-01T20:00:00.000000Z", "started": "2026-12-01T19:00:00Z", "connections": 2,
              "kernels": 2}
    kernels = [{"execution_state": "busy"}, {"execution_state": "idle"}]
    activity = activity_from(status, kernels)
    assert activity.connections == 2 and activity.busy_kernels == 1
    assert time.strftime("%H:%M", time.gmtime(activity.last_activity)) == "20:00"


def test_over_the_cap_the_server_paused_longest_ago_goes_first():
    frozen = [("young", NOW - 10, 300 * MiB), ("old", NOW - 900, 200 * MiB), ("middle", NOW - 300, 100 * MiB)]
    assert over_the_cap(frozen, 1000 * MiB) == []
    assert over_the_cap(frozen, 500 * MiB) == ["old"]
    assert over_the_cap(frozen, 350 * MiB) == ["old", "middle"]
    assert over_the_cap(frozen, 0) == ["old", "middle", "young"]
    assert over_the_cap([("unmeasured", NOW, None)], 0) == []


# --- a pass, with fake parts -------------------------------------------------------------------------------
def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Fakes:
    """A hub with running servers, their containers, the proxy's routes and the servers' own status."""

    def __init__(self):
        self.now = NOW
        self.servers: dict[str, dict] = {}
        self.containers: dict[str, dict] = {}
        self.routes: dict[str, dict] = {}
        self.activity: dict[str, Activity | None] = {}
        self.memory: dict[str, int] = {}
        self.asked: list[str] = []
        self.stopped: list[str] = []
        self.during_pause = None  # called while a container is being paused (a request arriving then)

    def add(self, name: str, last_activity: float, paused: bool = False, route: bool = True):
        prefix = f"/user/ada/{name}"
        self.servers[name] = {"user": "ada", "server": name, "url": prefix + "/",
                              "last_activity": iso(last_activity), "started": iso(NOW - 10_000)}
        self.containers[name] = {"id": f"id-{name}", "name": f"c-{name}", "user": "ada", "server": name,
                                 "paused": paused}
        if route:
            self.routes[prefix] = {"target": "http://172.17.0.9:8888", "user": "ada"}
        self.activity[name] = Activity(last_activity, 0, 0)

    def pauser(self, pause_after=600, cap=4096) -> Pauser:
        async def servers():
            return list(self.servers.values())

        async def containers():
            return [dict(c) for c in self.containers.values()]

        async def routes():
            return {path: dict(data) for path, data in self.routes.items()}

        async def mark(path, container):
            if path in self.routes:
                self.routes[path][PAUSED] = container

        def container(cid):
            return next(c for c in self.containers.values() if c["id"] == cid)

        async def pause(cid):
            if self.during_pause:
                self.during_pause(cid)
            container(cid)["paused"] = True

        async def unpause(cid):
            self.unpause_calls = getattr(self, "unpause_calls", 0) + 1
            was, container(cid)["paused"] = container(cid)["paused"], False
            return was

        async def activity(seen):
            self.asked.append(seen.server)
            return self.activity[seen.server]

        async def stop(user, server):
            self.stopped.append(server)
            del self.servers[server], self.containers[server]

        return Pauser(pause_after, cap, servers=servers, containers=containers, routes=routes, mark=mark,
                      pause=pause, unpause=unpause, activity=activity, memory_of=lambda n: self.memory.get(n),
                      stop=stop, clock=lambda: self.now)

    def paused(self, name: str) -> bool:
        return self.containers[name]["paused"]

    def mark_of(self, name: str):
        return self.routes[f"/user/ada/{name}"].get(PAUSED)


async def test_an_idle_server_is_marked_then_paused_and_busy_ones_are_left_running():
    f = Fakes()
    f.add("idle", NOW - 700)
    f.add("talking", NOW - 700)
    f.activity["talking"] = Activity(NOW - 700, 1, 0)
    f.add("working", NOW - 700)
    f.activity["working"] = Activity(NOW - 700, 0, 1)
    f.add("silent", NOW - 700)
    f.activity["silent"] = None
    f.add("routeless", NOW - 700, route=False)
    pauser = f.pauser()
    await pauser.pass_once()
    assert f.paused("idle") and f.mark_of("idle") == "id-idle"
    assert not any(f.paused(n) for n in ("talking", "working", "silent", "routeless"))
    assert pauser.paused_at == {"id-idle": NOW}


async def test_a_server_active_lately_in_the_hubs_eyes_is_not_even_asked():
    f = Fakes()
    f.add("fresh", NOW - 30)
    await f.pauser().pass_once()
    assert f.asked == [] and not f.paused("fresh")


async def test_pause_after_zero_never_pauses():
    f = Fakes()
    f.add("idle", NOW - 10_000)
    await f.pauser(pause_after=0).pass_once()
    assert not f.paused("idle") and f.asked == []


async def test_a_request_that_comes_while_pausing_has_the_server_resumed_at_once():
    f = Fakes()
    f.add("idle", NOW - 700)
    # the proxy got a request between the mark and the pause: it found the mark, and cleared it
    f.during_pause = lambda cid: f.routes["/user/ada/idle"].update({PAUSED: None})
    pauser = f.pauser()
    await pauser.pass_once()
    assert not f.paused("idle")
    assert "id-idle" not in pauser.paused_at and pauser.resumed_at["id-idle"] == NOW


async def test_a_resumed_server_gets_pause_after_again_before_the_next_pause():
    f = Fakes()
    f.add("idle", NOW - 700)
    pauser = f.pauser()
    await pauser.pass_once()
    assert f.paused("idle")
    f.containers["idle"]["paused"] = False  # the proxy resumed it for a request
    f.now += 30
    await pauser.pass_once()
    assert not f.paused("idle") and pauser.resumed_at["id-idle"] == NOW + 30
    f.now += 599
    await pauser.pass_once()
    assert not f.paused("idle")
    f.now += 2
    await pauser.pass_once()
    assert f.paused("idle")


async def test_a_paused_server_whose_mark_the_proxy_lost_is_marked_again():
    f = Fakes()
    f.add("frozen", NOW - 5000, paused=True)  # paused before this daemon started; the proxy restarted since
    await f.pauser().pass_once()
    assert f.mark_of("frozen") == "id-frozen"


async def test_over_the_memory_cap_the_server_paused_longest_ago_is_stopped():
    f = Fakes()
    for name in ("a", "b", "c"):
        f.add(name, NOW - 700)
        f.memory[f"c-{name}"] = 100 * MiB
    f.activity["b"] = f.activity["c"] = Activity(NOW - 700, 1, 0)
    pauser = f.pauser(cap=150)
    await pauser.pass_once()  # a paused: 100 MiB, under the cap
    assert f.stopped == []
    f.now += 60
    f.activity["b"] = Activity(NOW - 700, 0, 0)
    await pauser.pass_once()  # b paused too: 200 MiB, over: a (paused longest ago) stops
    assert f.stopped == ["a"] and f.paused("b")


async def test_resume_unpauses_and_clears_the_mark():
    f = Fakes()
    f.add("idle", NOW - 700)
    pauser = f.pauser()
    await pauser.pass_once()
    assert await pauser.resume("ada", "idle") is True
    assert not f.paused("idle") and f.mark_of("idle") is None
    f.unpause_calls = 0
    assert await pauser.resume("ada", "idle") is False  # not paused: the engine is not even asked
    assert f.unpause_calls == 0
    assert await pauser.resume("ada", "nobody") is False


# --- the proxy's side ------------------------------------------------------------------------------------
class Routes(dict):
    def update(self, path, data):  # configurable_http_proxy's store: update(path, data)
        self[path].update(data)


async def test_requests_that_come_together_wait_on_one_unpause():
    calls = []

    async def unpause(container):
        calls.append(container)
        await asyncio.sleep(0.05)
        return True

    routes = Routes({"/user/ada/x": {"target": "http://t", PAUSED: "cid"}})
    resumer = Resumer(unpause)
    await asyncio.gather(*(resumer.resume(routes, "/user/ada/x") for _ in range(5)))
    assert calls == ["cid"] and routes["/user/ada/x"][PAUSED] is None
    await resumer.resume(routes, "/user/ada/x")  # not marked: the engine is not asked
    assert calls == ["cid"]


class FakeEngine(web.RequestHandler):
    """The Engine API's unpause: 204, or what the test says."""

    answer = 204
    calls: list[str] = []

    def post(self, container):
        FakeEngine.calls.append(container)
        time.sleep(0.05)  # an unpause takes a few hundredths of a second
        self.set_status(FakeEngine.answer)
        if FakeEngine.answer >= 400:
            self.write({"message": "the engine says no"})


class Upstream(web.RequestHandler):
    def get(self, _):
        self.write({"ok": True})


@pytest.fixture(scope="module")
def proxy_with_engine(tmp_path_factory):
    socket_path = str(tmp_path_factory.mktemp("engine") / "docker.sock")
    port = free_port_block(3, start=24300)
    ready = threading.Event()

    def serve():
        loop = ioloop.IOLoop()
        asyncio.set_event_loop(loop.asyncio_loop)
        engine = httpserver.HTTPServer(web.Application([(r"/containers/([^/]+)/unpause", FakeEngine)]))
        engine.add_socket(netutil.bind_unix_socket(socket_path))
        web.Application([(r"/user/(.*)", Upstream)]).listen(port + 2, "127.0.0.1")
        loop.add_callback(ready.set)
        loop.start()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    token = "test-token"
    proc = subprocess.Popen([sys.executable, "-m", "localhub.hub.proxy", "--ip", "127.0.0.1", "--port", str(port),
                             "--api-ip", "127.0.0.1", "--api-port", str(port + 1)],
                            env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": token, "DOCKER_HOST": f"unix://{socket_path}"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port + 1}/api/routes", headers={"Authorization": f"token {token}"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            api.get("")
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    api.post("/user/ada/x", json={"target": f"http://127.0.0.1:{port + 2}", "user": "ada"})
    yield f"http://127.0.0.1:{port}", api
    proc.terminate()
    proc.wait(10)
    api.close()


def test_a_request_for_a_paused_server_resumes_it_before_it_is_forwarded(proxy_with_engine):
    url, api = proxy_with_engine
    FakeEngine.calls, FakeEngine.answer = [], 204
    before = api.get("/user/ada/x").json()["last_activity"]
    assert api.patch("/user/ada/x", json={PAUSED: "cid-1"}).status_code == 204
    assert api.get("/user/ada/x").json()["last_activity"] == before  # a pause is no use of the server

    with httpx.Client() as http:
        answers = [http.get(f"{url}/user/ada/x/api/status", timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert FakeEngine.calls == ["cid-1"]  # resumed once, then the mark was gone
    assert api.get("/user/ada/x").json()[PAUSED] is None


def test_a_server_the_engine_cannot_resume_is_an_error_not_a_hang(proxy_with_engine):
    url, api = proxy_with_engine
    FakeEngine.calls, FakeEngine.answer = [], 500
    try:
        api.patch("/user/ada/x", json={PAUSED: "cid-2"})
        answer = httpx.get(f"{url}/user/ada/x/api/status", timeout=10)
        assert answer.status_code == 503
        assert api.get("/user/ada/x").json()[PAUSED] == "cid-2"  # still paused: the next request tries again
    finally:
        FakeEngine.answer = 204
        api.patch("/user/ada/x", json={PAUSED: None})


def test_the_mark_is_changed_only_by_its_owner_and_only_as_itself(proxy_with_engine):
    url, api = proxy_with_engine
    assert httpx.patch(str(api.base_url) + "/user/ada/x", json={PAUSED: "c"}).status_code == 403
    assert api.patch("/user/ada/x", json={"target": "http://elsewhere"}).status_code == 400
    assert api.patch("/user/ada/x", json={PAUSED: 5}).status_code == 400
    assert api.patch("/user/nobody", json={PAUSED: "c"}).status_code == 404
    assert api.get("/user/ada/x").json()["target"].startswith("http://127.0.0.1")


# --- the spawner: a paused server is resumed before it is stopped, and when a restarted hub checks it -------
async def test_a_paused_server_is_resumed_before_it_is_stopped():
    from tests.unit.fake_engine import FakeEngine, Script, make_spawner

    engine = FakeEngine()
    engine.images["localhub/singleuser:test"] = Script()  # the image the test profiles name
    spawner = make_spawner(engine, "frozen")
    await spawner.start()
    name = spawner.container_name
    engine.pause(spawner.container_id)
    await spawner.get_url()  # a restarted hub checks it over HTTP: it must answer
    assert engine.calls[-2:] == [f"pause {name}", f"unpause {name}"]
    engine.pause(spawner.container_id)
    await spawner.stop()
    assert engine.calls[-3:-1] == [f"unpause {name}", f"stop {name}"]
    # a running server is stopped as before: no unpause in between
    await spawner.start()
    await spawner.stop()
    assert f"unpause {name}" not in engine.calls[-3:]


def test_the_engines_ways_of_saying_there_was_nothing_to_unpause():
    from localhub.hub.resume import nothing_to_unpause

    assert nothing_to_unpause(500, "Container 3f2a is not paused")  # Docker 20.10 (seen on this engine)
    assert nothing_to_unpause(409, None) and nothing_to_unpause(404, "No such container: x")
    assert not nothing_to_unpause(500, "cgroup freezer: device or resource busy")
