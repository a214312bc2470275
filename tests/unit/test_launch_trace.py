"""Every launch is traced (launch_trace.py): the ready event carries the steps the launch went through, in
order, each with its seconds, adding up to the whole; the spawner's own marks (container started, server
answered) come through JupyterHub's ready event. Against the fake hub and builder (tests/unit/fakehub.py);
never asserts how long a step took."""

from __future__ import annotations

import pytest

from localhub.binder import parse_link
from localhub.launch_trace import STEPS, LaunchTrace
from tests.unit.fakehub import FakeHub
from tests.unit.test_launcher import commit, git_repo, link, setup  # noqa: F401 (a fixture)

pytestmark = pytest.mark.unit


def steps(trace: dict) -> list[str]:
    return [s["step"] for s in trace["steps"]]


def assert_consistent(trace: dict) -> None:
    assert all(s["seconds"] >= 0 for s in trace["steps"])
    assert [STEPS.index(s) for s in steps(trace)] == sorted(STEPS.index(s) for s in steps(trace))
    assert sum(s["seconds"] for s in trace["steps"]) == pytest.approx(trace["total"], abs=0.01)


async def ready_of(launcher, text: str) -> dict:
    events = [e.to_wire() async for e in launcher.launch(parse_link(text))]
    assert events[-1]["phase"] == "ready", events[-1]
    return events[-1]


async def test_a_first_launch_is_traced_from_resolve_to_first_response(setup, tmp_path):
    hub, builder, launcher = setup
    hub.spawner_marks = ("started", "answered")
    ready = await ready_of(launcher, link(git_repo(tmp_path / "paper"), "main"))

    trace = ready["trace"]
    assert steps(trace) == ["resolve", "build", "start container", "server ready", "route added", "first response"]
    assert_consistent(trace)
    # kept for `servers ls` and `builds ls`
    assert launcher.traces["paper"] == trace
    assert launcher.image_traces[ready["imageName"]] == trace
    # the first response was asked through the proxy, without the daemon's token
    assert ("GET", "/user/me/paper/api") in hub.requests


async def test_a_relaunch_finds_the_image_and_a_running_server(setup, tmp_path):
    hub, builder, launcher = setup
    repo = git_repo(tmp_path / "paper")
    await ready_of(launcher, link(repo, "main"))
    again = await ready_of(launcher, link(repo, "main"))

    assert steps(again["trace"]) == ["resolve", "find image", "server running", "first response"]
    assert_consistent(again["trace"])


async def test_a_restart_of_a_stopped_server_without_spawner_marks_still_adds_up(setup, tmp_path):
    hub, builder, launcher = setup
    repo = git_repo(tmp_path / "paper")
    await ready_of(launcher, link(repo, "main"))
    hub.servers["paper"].ready = False  # stopped
    hub.spawner_marks = ()  # a hub whose spawner says nothing (a server placed on a lab peer says less)
    ready = await ready_of(launcher, link(repo, "main"))

    assert steps(ready["trace"]) == ["resolve", "find image", "route added", "first response"]
    assert_consistent(ready["trace"])


async def test_a_newer_commit_stops_the_old_server_as_its_own_step(setup, tmp_path):
    hub, builder, launcher = setup
    hub.spawner_marks = ("started", "answered")
    repo = git_repo(tmp_path / "paper")
    await ready_of(launcher, link(repo, "main"))
    commit(repo)
    ready = await ready_of(launcher, link(repo, "main"))

    assert steps(ready["trace"]) == ["resolve", "build", "stop old server", "start container", "server ready",
                                     "route added", "first response"]
    assert_consistent(ready["trace"])


def test_marks_from_another_process_never_make_a_step_negative_or_run_ahead():
    now = [100.0]
    trace = LaunchTrace(clock=lambda: now[0])
    now[0] = 101.0
    trace.mark("resolve")
    trace.mark_spawner({"started": 100.5, "answered": 150.0, "other": 1})  # before the last mark; in the future
    assert [(s["step"], s["seconds"]) for s in trace.to_wire()["steps"]] == [
        ("resolve", 1.0), ("start container", 0.0), ("server ready", 0.0)]
    with pytest.raises(ValueError):
        trace.mark("lunch")
