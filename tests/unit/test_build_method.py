"""Choosing the build method, the engine's registration, and build events (no builds run here)."""

import asyncio

import entrypoints
import pytest

from localhub.images.repo2docker_engine import LocalhubEngine, describe_build_method
from localhub.images.events import BuildEvent, EventLog
from localhub.images.method import (
    BUILDKIT_CLI,
    BUILDX,
    LEGACY_API,
    buildkit_only_feature,
    detect_build_method,
)

pytestmark = pytest.mark.unit


def test_engine_is_registered_for_repo2docker():
    engines = entrypoints.get_group_named("repo2docker.engines")
    assert engines["localhub"].load() is LocalhubEngine


def test_the_method_is_described_in_one_sentence():
    text = describe_build_method()
    assert text.startswith("Building with ") and text.endswith(".")
    assert "\n" not in text
    assert detect_build_method().kind in (BUILDX, BUILDKIT_CLI, LEGACY_API)


def test_legacy_can_be_forced(monkeypatch):
    monkeypatch.setenv("LOCALHUB_BUILD_METHOD", "legacy-api")
    method = detect_build_method()
    assert method.kind == LEGACY_API
    assert "forced" in method.reason
    monkeypatch.setenv("LOCALHUB_BUILD_METHOD", "bogus")
    with pytest.raises(ValueError):
        detect_build_method()


@pytest.mark.parametrize(
    "dockerfile, feature",
    [
        ("FROM x\nRUN echo hi\nCOPY --chown=1000:1000 . /home/jovyan\n", None),
        ("FROM x\nCOPY --chown=1:1 --chmod=0755 a b\n", "`COPY --chmod`"),
        ("# syntax=docker/dockerfile:1\nFROM x\n", "a `# syntax=` parser directive"),
        ("FROM x\n# syntax=late-comment-is-just-a-comment\n", None),
        ("FROM x\nRUN --mount=type=cache,target=/root/.cache pip install y\n", "`RUN --mount`"),
        ("FROM x\nadd --link a b\n", "`ADD --link`"),
        ("FROM x\nRUN <<EOF\necho hi\nEOF\n", "a heredoc in `RUN`"),
    ],
)
def test_buildkit_only_features(dockerfile, feature):
    assert buildkit_only_feature(dockerfile) == feature


def test_events_are_typed():
    event = BuildEvent("built", "done", 1.0, "localhub-env/x:1")
    assert event.final and event.to_dict() == {"phase": "built", "message": "done", "progress": 1.0, "image": "localhub-env/x:1"}
    assert BuildEvent("building", "line").to_dict() == {"phase": "building", "message": "line"}
    with pytest.raises(ValueError):
        BuildEvent("launching", "not a build phase")


async def test_late_followers_replay_then_follow():
    log = EventLog()
    early = []

    async def follow(into):
        async for event in log.follow():
            into.append(event)

    first = asyncio.create_task(follow(early))
    await log.publish(BuildEvent("fetching", "one"))
    await log.publish(BuildEvent("building", "two"))
    await asyncio.sleep(0)
    late = []
    second = asyncio.create_task(follow(late))
    await asyncio.sleep(0)
    await log.publish(BuildEvent("built", "three", 1.0, "img"))
    await log.close()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [e.message for e in early] == [e.message for e in late] == ["one", "two", "three"]
