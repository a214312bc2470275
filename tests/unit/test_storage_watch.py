"""Storage caps (issue 10, item 21): the watch's decisions against a fake engine — meters follow running
servers, a home past its cap plus a margin is frozen and its server stopped with a notice, a quota-backed
home is left to the kernel, the fastest-growing home is stopped when the disk runs low; and the spawner's
side: quota-backed volumes where the engine allows, the start check from the measured usage."""

from __future__ import annotations

import pytest
from tornado import web

from localhub.storage_caps import MiB, margin
from localhub.storage_watch import MIN_FREE, StorageWatch
from tests.unit.fake_engine import FakeEngine, Script, make_spawner

pytestmark = pytest.mark.unit

GiB = 1024 * MiB
CAP = 2 * GiB


class Engine:
    """The docker.DockerClient calls the watch makes; servers and meters are dicts as the API lists them."""

    def __init__(self):
        self.api, self.containers, self.images, self.volumes = Api(self), Containers(self), Images(), Volumes()
        self.servers: dict[str, dict] = {}
        self.meters: dict[str, dict] = {}
        self.lines: dict[str, str] = {}  # meter id -> its last output line
        self.paused: list[str] = []
        self.killed: list[str] = []
        self.volume_options: dict[str, dict] = {}

    def add_server(self, name, server, profile="default"):
        self.servers[name] = {"Id": f"id-{name}", "Names": [f"/{name}"], "State": "running",
                              "Labels": {"localhub.user": "ada", "localhub.server": server,
                                         "localhub.profile": profile},
                              "Mounts": [{"Name": f"vol-{server}", "Driver": "local"}]}


class Api:
    def __init__(self, engine):
        self.engine = engine

    def containers(self, filters, all=False):  # noqa: A002 - the SDK's name
        if "localhub.role=meter" in filters["label"]:
            return list(self.engine.meters.values())
        return list(self.engine.servers.values())

    def logs(self, cid, tail, stdout, stderr):
        return self.engine.lines.get(cid, "").encode()

    def pause(self, cid):
        self.engine.paused.append(cid)

    def kill(self, cid):
        self.engine.killed.append(cid)

    def remove_container(self, cid, force):
        self.engine.meters = {k: m for k, m in self.engine.meters.items() if m["Id"] != cid}

    def inspect_volume(self, name):
        return {"Options": self.engine.volume_options.get(name, {})}


class Containers:
    def __init__(self, engine):
        self.engine = engine

    def run(self, image, command, **kwargs):
        if kwargs.get("detach"):
            meters = kwargs["labels"]["localhub.meters"]
            self.engine.meters[meters] = {"Id": f"meter-{meters}", "State": "running", "Labels": kwargs["labels"],
                                          "Config": kwargs}
            return None
        return b""


class Images:
    def get(self, image):
        return image


class Volumes:
    def list(self, filters):
        return []


def watch_of(engine: Engine, **caps):
    stopped, notices = [], {}
    watch = StorageWatch(engine, "abc", {}, cap_of={"default": CAP, **caps}.get,
                         stop_server=lambda user, server: stopped.append((user, server)),
                         tell=notices.__setitem__, volume_name=lambda user, server: f"vol-{server}")
    watch.meter_image = "localhub/base:test"
    return watch, stopped, notices


def test_a_meter_follows_each_running_server_confined_and_read_only():
    engine = Engine()
    engine.add_server("c-thesis", "thesis")
    watch, _, _ = watch_of(engine)
    watch.round(follow=False)
    meter = engine.meters["c-thesis"]["Config"]
    assert meter["name"] == "c-thesis.meter"
    assert meter["volumes"] == {"vol-thesis": {"bind": "/home/jovyan", "mode": "ro"}}
    assert meter["network_mode"] == "none" and meter["cap_drop"] == ["ALL"] and meter["cap_add"] == ["DAC_READ_SEARCH"]
    del engine.servers["c-thesis"]  # stopped: its meter goes
    watch.round(follow=False)
    assert engine.meters == {}


def test_past_cap_and_margin_the_server_is_frozen_stopped_and_told_why():
    engine = Engine()
    engine.add_server("c-thesis", "thesis")
    watch, stopped, notices = watch_of(engine)
    watch.round(follow=False)
    kib = (CAP + margin(CAP) - MiB) // 1024
    engine.lines["meter-c-thesis"] = f"{kib} {50 * GiB // 1024} 1000\n"
    watch.round(follow=False)
    assert stopped == [] and watch.used("vol-thesis") == kib * 1024
    engine.lines["meter-c-thesis"] = f"{(CAP + margin(CAP) + MiB) // 1024} {50 * GiB // 1024} 1001\n"
    watch.round(follow=False)
    assert engine.paused == engine.killed == ["id-c-thesis"] and stopped == [("ada", "thesis")]
    assert "past its 2.0 GiB storage cap" in notices["c-thesis"] and "delete files" in notices["c-thesis"]
    watch.round(follow=False)
    assert stopped == [("ada", "thesis")]  # once


def test_a_fast_writer_past_its_cap_is_stopped_before_its_next_step_crosses_the_margin():
    engine = Engine()
    engine.add_server("c-thesis", "thesis")
    watch, stopped, _ = watch_of(engine)
    watch.round(follow=False)
    step = margin(CAP) * 2 // 3
    for i, used in enumerate((CAP - step, CAP + MiB, CAP + MiB + step)):
        engine.lines["meter-c-thesis"] = f"{used // 1024} {50 * GiB // 1024} {1000 + i}\n"
        watch.round(follow=False)
        assert stopped == [] if i < 2 else stopped == [("ada", "thesis")], i
    assert engine.paused == ["id-c-thesis"]


def test_a_slow_writer_past_its_cap_runs_on_until_the_margin():
    engine = Engine()
    engine.add_server("c-thesis", "thesis")
    watch, stopped, _ = watch_of(engine)
    watch.round(follow=False)
    for i, used in enumerate(range(CAP - 10 * MiB, CAP + margin(CAP) - 10 * MiB, 10 * MiB)):
        engine.lines["meter-c-thesis"] = f"{used // 1024} {50 * GiB // 1024} {1000 + i}\n"
        watch.round(follow=False)
    assert stopped == [] and engine.paused == []


def test_a_quota_backed_home_is_left_to_the_kernel():
    engine = Engine()
    engine.add_server("c-thesis", "thesis")
    engine.volume_options["vol-thesis"] = {"size": str(CAP)}
    watch, stopped, _ = watch_of(engine)
    watch.quotas = True
    watch.round(follow=False)
    engine.lines["meter-c-thesis"] = f"{3 * GiB // 1024} {50 * GiB // 1024} 1000\n"
    watch.round(follow=False)
    assert stopped == [] and engine.paused == []


def test_when_the_disk_runs_low_the_fastest_growing_home_stops():
    engine = Engine()
    engine.add_server("c-a", "a")
    engine.add_server("c-b", "b")
    watch, stopped, notices = watch_of(engine)
    watch.round(follow=False)
    free = (MIN_FREE // 2) // 1024
    engine.lines.update({"meter-c-a": f"{100 * MiB // 1024} {free + 10} 1000", "meter-c-b": f"{100 * MiB // 1024} {free + 10} 1000"})
    watch.round(follow=False)
    engine.lines.update({"meter-c-a": f"{110 * MiB // 1024} {free} 1002", "meter-c-b": f"{300 * MiB // 1024} {free} 1002"})
    watch.round(follow=False)
    assert stopped == [("ada", "b")] and "disk had only" in notices["c-b"]


def test_garbage_from_a_meter_is_ignored():
    engine = Engine()
    engine.add_server("c-thesis", "thesis")
    watch, stopped, _ = watch_of(engine)
    watch.round(follow=False)
    engine.lines["meter-c-thesis"] = "du: cannot read directory\n"
    watch.round(follow=False)
    assert watch.used("vol-thesis") is None and stopped == []


async def test_the_spawner_makes_quota_backed_homes_where_the_engine_can():
    engine = FakeEngine()
    engine.images["localhub/singleuser:test"] = Script()
    engine.quotas = True
    spawner = make_spawner(engine, "capped")
    await spawner.start()
    assert engine.volumes[spawner.home_volume]["Options"] == {"size": str(CAP)}


async def test_the_spawner_makes_plain_homes_elsewhere_and_refuses_one_measured_over_its_cap():
    engine = FakeEngine()
    engine.images["localhub/singleuser:test"] = Script()
    spawner = make_spawner(engine, "full")
    await spawner.start()
    assert not engine.volumes[spawner.home_volume]["Options"]
    await spawner.stop()
    engine.volume_sizes[spawner.home_volume] = 3 * GiB
    with pytest.raises(web.HTTPError) as caught:
        await spawner.start()
    assert "over its 2.0 GiB cap" in caught.value.log_message
