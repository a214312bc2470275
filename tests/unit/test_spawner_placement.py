"""The spawner's placement on lab peers (hub/spawner.py), with a fake daemon link (tests/unit/hub_fakes.py):
when the daemon is asked at all, what a peer start sends and shows, and how polls, stops and deletes of a
server on a peer go through the daemon. The engine suite (tests/lan/test_pool_remote.py) proves the wiring."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

import pytest
from jupyterhub.objects import Hub
from jupyterhub.spawner import SpawnException
from tornado import web

from localhub.errors import LocalhubError
from localhub.hub.daemon_link import DaemonLink, DaemonRefused, DaemonUnreachable
from localhub.hub.spawner import LocalhubSpawner
from localhub.profiles import Profile
from tests.unit.hub_fakes import TOKEN, FakeLink, FakePlacement, fake_daemon, serving

pytestmark = pytest.mark.unit

PROFILE = Profile(name="default", description="", cpu=1.0, memory=2 * 10**9, storage=2 * 2**30)


class LinkedSpawner(LocalhubSpawner):
    """The spawner with its daemon link and engine-derived parts faked; its guest answers once probed
    `silent_probes` times (None: never)."""

    daemon = None  # each test gives its FakeLink
    silent_probes: int | None = 0

    async def _answers(self, url):
        self.probed = [*getattr(self, "probed", []), url]
        return self.silent_probes is not None and len(self.probed) > self.silent_probes

    async def get_command(self):
        return ["jupyterhub-singleuser"]  # DockerSpawner reads it from the image

    def get_env(self):
        return {"JUPYTERHUB_API_URL": "http://172.30.0.1:8768/hub/api", "OTHER": 1}


def spawner(link: FakeLink, pool_address: str = "10.0.0.2", name: str = "thesis") -> LinkedSpawner:
    made = LinkedSpawner(user=SimpleNamespace(name="ana", url="/user/ana/", id=1, escaped_name="ana"), hub=Hub(),
                         orm_spawner=SimpleNamespace(name=name, server=None), instance="t1",
                         pool_address=pool_address, hub_api_port=8768, image="img")
    made.daemon, made._pool_steps = link, []
    return made


async def test_outside_a_lab_local_and_auto_run_here_without_asking_and_a_peer_is_refused():
    link = FakeLink()
    alone = spawner(link, pool_address="")
    assert await alone._choose_peer("local", PROFILE) is None
    assert await alone._choose_peer("auto", PROFILE) is None
    with pytest.raises(web.HTTPError) as refused:
        await alone._choose_peer("bob", PROFILE)
    assert refused.value.status_code == 400 and "not in a lab" in refused.value.log_message
    assert link.calls == []


async def test_in_a_lab_every_start_asks_the_daemon_which_says_here_or_a_peer():
    link = FakeLink()
    assert await spawner(link)._choose_peer("local", PROFILE) is None  # asked even so: it supersedes old runs
    assert link.calls == [("choose", "ana", "thesis", "local", {"cpus": 1.0, "memory": 2 * 10**9,
                                                                "storage": 2 * 2**30})]
    link.choice = {"where": "b" * 16, "name": "bob"}
    assert await spawner(link)._choose_peer("auto", PROFILE) == {"where": "b" * 16, "name": "bob"}
    link.refuse = "Peer 'bob' declined the server: bob: the owner is back."
    with pytest.raises(web.HTTPError) as refused:
        await spawner(link)._choose_peer("bob", PROFILE)
    assert refused.value.status_code == 400 and refused.value.log_message == link.refuse


async def test_a_start_on_a_peer_shows_its_steps_and_gives_the_hub_api_on_the_lan_address():
    link = FakeLink(choice={"where": "b" * 16, "name": "bob"})
    server = spawner(link)
    server.silent_probes = 3
    assert await server._start_remote({"where": "b" * 16, "name": "bob"}, PROFILE) == ("10.0.0.3", 49153)
    # reported started only once the guest answered through its tunnel (JupyterHub's own check then succeeds)
    assert server.probed == ["http://10.0.0.3:49153/api"] * 4  # (no Server object here: its base_url is /)
    sent = link.calls[0][1]
    assert sent["node"] == "b" * 16 and sent["hub"] == ["10.0.0.2", 8768]
    assert sent["env"] == {"JUPYTERHUB_API_URL": "https://10.0.0.2:8768/hub/api", "OTHER": 1}
    assert server._pool_steps == ["Sending the home (1.0 MB)…"]
    progress = server.progress()
    assert (await progress.__anext__())["message"] == "Sending the home (1.0 MB)…"
    assert server.get_state()["guest"] == "0" * 16

    link.refuse = "The agent of peer bbbb at 10.0.0.3:8470 refused: no room."
    with pytest.raises(web.HTTPError) as failed:
        await spawner(link)._start_remote({"where": "b" * 16, "name": "bob"}, PROFILE)
    assert failed.value.status_code == 500
    assert failed.value.log_message == f"The server could not start on bob: {link.refuse}"


async def test_a_guest_that_ends_or_stays_silent_while_starting_is_a_clear_failure():
    link = FakeLink(poll=0)  # the peer says the guest's container ended
    crashed = spawner(link)
    crashed.silent_probes = None
    with pytest.raises(SpawnException) as caught:
        await crashed._start_remote({"where": "b" * 16, "name": "bob"}, PROFILE)
    assert caught.value.jupyterhub_message == ("Server 'thesis' did not start on bob: its container stopped while "
                                               "starting (its home is back here).")
    silent = spawner(FakeLink(poll=None))
    silent.silent_probes, silent.http_timeout = None, 1
    with pytest.raises(SpawnException) as caught:
        await silent._start_remote({"where": "b" * 16, "name": "bob"}, PROFILE)
    assert "did not answer within 1 s of starting on bob, so it was stopped" in caught.value.jupyterhub_message
    assert silent.daemon.calls[-1] == ("stop", "0" * 16)


async def test_a_server_on_a_peer_is_polled_stopped_and_deleted_through_the_daemon():
    link = FakeLink(poll=None)
    server = spawner(link)
    server.load_state({"guest": "0" * 16})
    assert await server.poll() is None
    link.unreachable = True
    assert await server.poll() is None  # a daemon restarting is no reason to call the server stopped
    link.unreachable, link.poll_answer = False, 1
    assert await server.poll() == 1
    await server.stop()
    assert link.calls[-1] == ("stop", "0" * 16) and server.guest == "" and "guest" not in server.get_state()

    async def engine(*args, **kwargs):
        link.calls.append(("engine",) + args)

    server.docker = engine
    await server.delete_forever()
    assert ("forget", "ana", "thesis") in link.calls
    alone = spawner(FakeLink(), pool_address="")
    alone.docker = engine
    await alone.delete_forever()
    assert alone.daemon.calls == []  # outside a lab the daemon is not asked


async def test_the_daemon_answers_the_spawners_placement_calls(tmp_path):
    ask = {"cpus": 1, "memory": 10**9, "storage": 2**30}
    request = {"node": "b" * 16, "user": "ana", "server": "x", "volume": "v", "image": "img", "ask": ask,
               "env": {}, "cmd": [], "hub": ["10.0.0.2", 8768]}
    placement = FakePlacement(choice={"where": "b" * 16, "name": "bob"})
    async with serving(fake_daemon(tmp_path, placement=placement)) as url:
        link = DaemonLink(url, TOKEN)
        assert await link.choose("ana", "x", "auto", ask) == {"where": "b" * 16, "name": "bob"}
        events = [e async for e in link.start(request)]
        guest = events[0]["guest"]  # the daemon names the guest before anything travels
        assert re.fullmatch("[0-9a-f]{16}", guest) and events[1:] == [
            {"step": "Image sent and loaded in 0.1 s."},
            {"running": {"guest": guest, "address": "10.0.0.3", "port": 49153, "peer": "bob"}}]
        assert await link.poll(guest) is None
        await link.stop(guest)
        await link.forget("ana", "x")
        assert [c[0] for c in placement.calls] == ["choose", "start", "poll", "stop", "forget"]
        placement.fail = LocalhubError("The agent of peer bbbb at 10.0.0.3:8470 refused: no room.")
        with pytest.raises(DaemonRefused, match="refused: no room"):
            [e async for e in link.start(request)]
    async with serving(fake_daemon(tmp_path)) as url:  # the daemon runs no pool
        link = DaemonLink(url, TOKEN)
        assert await link.choose("ana", "x", "auto", ask) == {"where": "local"}
        with pytest.raises(DaemonRefused, match="not in a lab .or its pool is off., so the server cannot run on "
                                                "'bob'"):
            await link.choose("ana", "x", "bob", ask)
        assert await link.poll("0" * 16) == 1  # a server on a peer cannot be reached: it counts as stopped


class HeldPlacement(FakePlacement):
    """A start that takes as long as the test says: its first step is sent, then it waits for `go`."""

    def __init__(self):
        super().__init__(steps=("Sending the image…",))
        self.go = asyncio.Event()

    async def start(self, node, request, note):
        note(self.steps[0])
        await self.go.wait()
        self.steps = ()
        return await super().start(node, request, note)


async def test_a_start_the_spawner_gave_up_on_is_handed_to_the_placement_to_stop(tmp_path):
    """The start's deadline cancels the spawner's start mid-way and its connection closes: the daemon asks the
    placement to stop that guest (which it does once the guest runs: tests/unit/test_pool_placement.py)."""
    request = {"node": "b" * 16, "user": "ana", "server": "x", "volume": "v", "image": "img", "ask": {},
               "env": {}, "cmd": [], "hub": ["10.0.0.2", 8768]}
    placement = HeldPlacement()
    daemon = fake_daemon(tmp_path, placement=placement)
    async with serving(daemon) as url:
        events = DaemonLink(url, TOKEN).start(request)
        guest = (await events.__anext__())["guest"]
        assert await events.__anext__() == {"step": "Sending the image…"}
        await events.aclose()  # as a cancelled spawner's start does: the connection closes
        await asyncio.sleep(0.2)
        placement.go.set()
        deadline = asyncio.get_running_loop().time() + 5
        while ("stop", guest) not in placement.calls and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    assert placement.calls == [("start", "b" * 16, "x"), ("stop", guest)]


async def test_a_start_past_its_deadline_says_where_it_was_and_stops_the_guest_it_had_named():
    """JupyterHub's own start timeout reaches the user as "Spawn failed: " and nothing more, and (before) left a
    server still travelling to a peer running there: the spawner now gives up first, says the step, and its stop
    reaches the guest named at the start's first event."""

    class Slow(FakeLink):
        async def start(self, request):
            self.calls.append(("start", request))
            yield {"guest": "0" * 16}
            yield {"step": "Packing image img for the peer…"}
            await asyncio.sleep(30)

    link = Slow(choice={"where": "b" * 16, "name": "bob"})
    server = spawner(link)
    server.user_options = {"where": "bob"}
    server.local_start_timeout, server.peer_start_timeout = 1, 3
    server.run_pre_spawn_hook()
    assert server.start_timeout == 3  # JupyterHub waits the pool's time for a server that may travel
    server._start = lambda: server._start_remote({"where": "b" * 16, "name": "bob"}, PROFILE)
    with pytest.raises(SpawnException) as caught:
        await server.start()
    assert caught.value.jupyterhub_message.startswith(
        "Server 'thesis' did not start within 3 s (it was at: Packing image img for the peer); once it runs on the "
        "lab peer it is stopped there and its home comes back.")
    await server.stop()  # as JupyterHub does after a failed start
    assert link.calls[-1] == ("stop", "0" * 16) and server.guest == ""
    server.user_options = {}
    server.run_pre_spawn_hook()
    assert server.start_timeout == 1


async def test_a_daemon_restarting_while_a_guest_starts_does_not_fail_the_start():
    link = FakeLink(poll=None)
    server = spawner(link)
    calls = {"n": 0}

    async def unreachable_poll(guest):
        calls["n"] += 1
        raise DaemonUnreachable("The localhub daemon did not answer (ConnectError).")

    link.poll = unreachable_poll
    # probes answer only after the first exit check (about a second in), which finds the daemon away
    server.silent_probes = 25
    assert await server._start_remote({"where": "b" * 16, "name": "bob"}, PROFILE) == ("10.0.0.3", 49153)
    assert calls["n"] >= 1


async def test_jupyterhub_finds_nothing_to_apply_from_the_options_the_spawner_reads_itself(caplog):
    """JupyterHub 5.3 logged "Received unhandled user_options …" at every start: the spawner reads them in start()."""
    server = spawner(FakeLink())
    with caplog.at_level("WARNING"):
        await server._run_apply_user_options({"where": "bob", "profile": "small", "image": "img"})
    assert not [r for r in caplog.records if "unhandled user_options" in r.getMessage()], caplog.text
