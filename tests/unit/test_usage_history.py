"""The usage sampler's history per container: bounded, oldest first, forgotten when the container goes.
A small stand-in for the Docker SDK gives the stats; the daemon's wiring is proven against a real server
in tests/tui (the details pane's chart)."""

from __future__ import annotations

import pytest

from localhub.usage import UsageSampler

pytestmark = pytest.mark.unit


class Container:
    def __init__(self, name):
        self.name = self.id = name


class Engine:
    """containers.list and api.stats, as docker.DockerClient answers them: CPU as running totals."""

    def __init__(self):
        self.running: dict[str, list] = {}  # name -> [cpu total ns, system ns, memory]
        self.containers = self
        self.api = self

    def list(self, filters, all=False, ignore_removed=False):
        assert filters == {"label": "localhub.instance=abc"} and not all
        return [Container(name) for name in self.running]

    def stats(self, cid, stream, one_shot):
        total, system, memory = self.running[cid]
        return {"cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": 2},
                "memory_stats": {"usage": memory, "stats": {"cache": 0}}}

    def tick(self, name, busy_ns, memory):
        total, system, _ = self.running[name]
        self.running[name] = [total + busy_ns, system + 2_000_000_000, memory]


def test_history_is_bounded_oldest_first_and_forgotten_with_the_container():
    engine = Engine()
    sampler = UsageSampler(engine, "abc", history=3)
    engine.running["a"] = [0, 0, 100]
    sampler.sample()
    for i in range(1, 5):
        engine.tick("a", busy_ns=i * 100_000_000, memory=100 + i)  # i/10 of one core of two
        sampler.sample()
    history = sampler.history("a")
    assert [memory for _, _, memory in history] == [102, 103, 104]  # the three newest, oldest first
    assert [cpu for _, cpu, _ in history] == [20.0, 30.0, 40.0]  # % of one core
    assert history[0][0] <= history[-1][0]
    assert sampler.history("b") == [] and sampler.history(None) == []

    del engine.running["a"]  # stopped: its history goes, and a restart starts afresh
    sampler.sample()
    assert sampler.history("a") == []
    engine.running["a"] = [10**12, 10**12, 7]
    sampler.sample()
    assert [(cpu, memory) for _, cpu, memory in sampler.history("a")] == [(None, 7)]


def test_a_container_stopping_between_list_and_stats_does_not_stop_the_sampling():
    """Seen with a real engine: stats of a container that has just stopped come back empty, and the
    Docker SDK raises requests' JSONDecodeError (no DockerException); the sampler thread died of it and
    every figure froze for the rest of the daemon's life."""
    import requests

    engine = Engine()
    engine.running["a"] = [0, 0, 100]
    engine.running["b"] = [0, 0, 200]
    sampler = UsageSampler(engine, "abc")
    answer = engine.stats

    def stats(cid, stream, one_shot):
        if cid == "b":
            raise requests.exceptions.JSONDecodeError("Expecting value", "", 0)
        return answer(cid, stream, one_shot)

    engine.stats = stats
    sampler.sample()
    assert set(sampler.latest) == {"a"}
    engine.stats = answer
    engine.tick("a", 100_000_000, 101)
    sampler.sample()
    assert [m for _, _, m in sampler.history("a")] == [100, 101]
    assert [m for _, _, m in sampler.history("b")] == [200]
