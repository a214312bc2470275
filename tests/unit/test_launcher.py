"""The launcher's decisions, against a fake hub and builder (tests/unit/fakehub.py): which server a launch
uses, when it builds, when it refuses before building. Repositories are real local git repositories, so
resolving is real; the engine suite (tests/integration/test_binder_launch.py) proves the wiring."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from localhub.binder import parse_link
from localhub.config import Settings
from localhub.launcher import Launcher
from tests.unit.fakehub import FakeBuilder, FakeHub

pytestmark = pytest.mark.unit

GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t.invalid", "PATH": "/usr/bin:/bin"}


def git_repo(path: Path) -> Path:
    path.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=GIT)
    return path


def commit(path: Path) -> None:
    subprocess.run(["git", "-C", str(path), "commit", "-q", "--allow-empty", "-m", "more"], check=True, env=GIT)


def link(repo: Path, ref: str) -> str:
    return f"local/{quote(str(repo), safe='')}/{ref}"


@pytest.fixture
def setup(tmp_path):
    hub, builder = FakeHub(user="me", named_server_limit=5), FakeBuilder()
    settings = Settings(state_dir=tmp_path / "state", config_dir=tmp_path / "config", user="me",
                        max_named_servers=5)
    launcher = Launcher(settings, builder, hub.api(), tmp_path)
    return hub, builder, launcher


async def run(launcher: Launcher, text: str, **kwargs) -> list[dict]:
    """The launch's events as the /build stream sends them."""
    return [event.to_wire() async for event in launcher.launch(parse_link(text), **kwargs)]


async def test_head_and_main_at_one_commit_are_one_environment_one_build_one_server(setup, tmp_path):
    hub, builder, launcher = setup
    repo = git_repo(tmp_path / "paper")

    first = await run(launcher, link(repo, "HEAD"))
    second = await run(launcher, link(repo, "main"))

    assert first[-1]["phase"] == second[-1]["phase"] == "ready"
    assert len(builder.builds) == 1
    assert first[-1]["server"] == second[-1]["server"] == "paper"
    assert first[-1]["imageName"] == second[-1]["imageName"]
    assert list(hub.servers) == ["paper"]
    assert any("already runs this environment" in e["message"] for e in second)


async def test_a_newer_commit_of_the_same_link_rebuilds_and_restarts_its_server(setup, tmp_path):
    hub, builder, launcher = setup
    repo = git_repo(tmp_path / "paper")
    await run(launcher, link(repo, "main"))
    commit(repo)
    events = await run(launcher, link(repo, "main"))

    assert events[-1]["phase"] == "ready" and events[-1]["server"] == "paper"
    assert len(builder.builds) == 2
    assert ("DELETE", "/hub/api/users/me/servers/paper") in hub.requests
    assert list(hub.servers) == ["paper"]


async def test_another_ref_at_another_commit_gets_a_server_of_its_own(setup, tmp_path):
    hub, builder, launcher = setup
    repo = git_repo(tmp_path / "paper")
    await run(launcher, link(repo, "main"))
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "dev"], check=True, env=GIT)
    commit(repo)
    events = await run(launcher, link(repo, "dev"))
    assert events[-1]["server"] == "paper-2" and sorted(hub.servers) == ["paper", "paper-2"]


async def test_a_full_hub_refuses_before_building_and_names_what_frees_a_slot(setup, tmp_path):
    hub, builder, launcher = setup
    for name in ("a", "b", "c", "d", "e"):
        hub.add(name)
    events = await run(launcher, link(git_repo(tmp_path / "paper"), "HEAD"))

    assert [e["phase"] for e in events] == ["waiting", "failed"]
    message = events[-1]["message"]
    assert "the limit of 5 named servers is reached (a, b, c, d, e)" in message
    assert "`localhub servers delete NAME`" in message and "`d` on the TUI's Servers tab" in message
    assert builder.builds == [] and not any(method == "POST" for method, _ in hub.requests)


async def test_a_full_hub_still_relaunches_an_environment_it_has(setup, tmp_path):
    hub, builder, launcher = setup
    repo = git_repo(tmp_path / "paper")
    await run(launcher, link(repo, "HEAD"))
    for name in ("a", "b", "c", "d"):
        hub.add(name)
    hub.servers["paper"].ready = False  # stopped: starting it takes no new slot
    events = await run(launcher, link(repo, "main"))
    assert events[-1]["phase"] == "ready" and events[-1]["server"] == "paper"


async def test_concurrent_launches_of_two_repositories_with_one_name_get_two_servers(setup, tmp_path):
    hub, builder, launcher = setup
    one = git_repo(tmp_path / "x1")
    (tmp_path / "y").mkdir()
    two = git_repo(tmp_path / "y" / "x1")
    results = await asyncio.gather(run(launcher, link(one, "HEAD")), run(launcher, link(two, "HEAD")))
    assert sorted(r[-1]["server"] for r in results) == ["x1", "x1-2"]


async def test_concurrent_launches_at_the_limit_take_one_slot_each(setup, tmp_path):
    hub, builder, launcher = setup
    for name in ("a", "b", "c", "d"):
        hub.add(name)
    results = await asyncio.gather(run(launcher, link(git_repo(tmp_path / "p"), "HEAD")),
                                   run(launcher, link(git_repo(tmp_path / "q"), "HEAD")))
    assert sorted(r[-1]["phase"] for r in results) == ["failed", "ready"]
    assert len(builder.builds) == 1  # the refused one built nothing


async def test_a_failed_spawn_is_one_failed_event(setup, tmp_path):
    hub, builder, launcher = setup
    hub.fail_spawn = "the container exited with code 1"
    events = await run(launcher, link(git_repo(tmp_path / "paper"), "HEAD"))
    assert events[-1]["phase"] == "failed" and "the container exited with code 1" in events[-1]["message"]
    assert [e for e in events if e["phase"] == "failed"] == [events[-1]]


async def test_every_event_carries_the_launchs_progress_never_going_back(setup, tmp_path):
    hub, builder, launcher = setup
    events = await run(launcher, link(git_repo(tmp_path / "paper"), "HEAD"))
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and progress[0] == 0.0 and progress[-1] == 1.0
    assert list(dict.fromkeys(e["phase"] for e in events)) == ["waiting", "fetching", "building", "built",
                                                                "launching", "ready"]
    assert all(e["message"].endswith("\n") for e in events)  # BinderHub's wire format


async def test_a_failed_launch_stops_the_bar_where_it_was(setup, tmp_path):
    hub, builder, launcher = setup
    builder.fail = "RUN false exited with code 1"
    events = await run(launcher, link(git_repo(tmp_path / "paper"), "HEAD"))
    assert events[-1]["phase"] == "failed"
    assert events[-1]["progress"] == events[-2]["progress"] > 0.15
