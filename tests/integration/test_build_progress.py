"""A build's progress on the hub's /build/ stream, with the real engine: BinderHub's events for its clients,
ticks (events named `progress`) between log lines that those clients never see, the clock, the estimate from
the previous build of the same repository, and a failure that names its log, served by the hub."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.binder import git, git_spec, read_build, remove_images_under

pytestmark = pytest.mark.docker

# the nonce keeps the engine's build cache (which outlives the images removed after a run) from skipping the steps
STEPS = "FROM localhub/singleuser:test\nRUN echo one {nonce} && sleep {first}\nRUN echo two && sleep 2\n"


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress-repos")
    yield root
    remove_images_under(root)


def make_repo(root, name, dockerfile):
    path = root / name
    path.mkdir()
    (path / "Dockerfile").write_text(dockerfile)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def test_ticks_carry_the_clock_and_the_second_build_has_an_estimate(hub, repos):
    repo = make_repo(repos, "ticking", STEPS.format(first=2, nonce=uuid.uuid4().hex))
    spec = git_spec(f"file://{repo}", "main")

    first = read_build(hub.url, spec, hub.token, "launch=0")
    assert first.last["phase"] == "built", first.describe()
    assert not any(e.get("tick") for e in first.events)  # BinderHub's clients see log lines only
    assert first.ticks and all(t["message"] == "" and t["phase"] in ("fetching", "building") for t in first.ticks)
    clocks = [t["elapsed"] for t in first.ticks]
    assert clocks == sorted(clocks) and len(set(clocks)) >= 2
    assert any(t.get("detail") == "step 2 of 3" for t in first.ticks + first.events)
    progress = [e["progress"] for e in first.events + first.ticks]
    assert all(0 <= p <= 1 for p in progress)
    assert not any("left" in e for e in first.events + first.ticks)  # nothing to go by yet

    (repo / "Dockerfile").write_text(STEPS.format(first=3, nonce=uuid.uuid4().hex))  # a newer commit of the same repository
    git(repo, "commit", "-q", "-am", "slower")
    second = read_build(hub.url, spec, hub.token, "launch=0")
    assert second.last["phase"] == "built", second.describe()
    assert any(isinstance(e.get("left"), float) for e in second.events + second.ticks)


def test_a_failed_build_says_why_once_and_names_its_log(hub, repos):
    repo = make_repo(repos, "failing", "FROM localhub/singleuser:test\nRUN echo about to fail\nRUN false\n")
    spec = git_spec(f"file://{repo}", "main")
    stream = read_build(hub.url, spec, hub.token, "launch=0")
    failed = stream.last
    assert failed["phase"] == "failed"
    assert failed["message"] == "the Dockerfile's step `RUN false` failed (exit code 1)\n"  # the reason, nothing else
    assert failed["spec"] == spec
    log = httpx.get(failed["build_log"], headers={"Authorization": f"token {hub.token}"}, timeout=30)
    assert log.status_code == 200 and "RUN false" in log.text
    download = httpx.get(failed["build_log"] + "&download=1", headers={"Authorization": f"token {hub.token}"})
    assert download.headers["content-disposition"].startswith("attachment; filename=")
