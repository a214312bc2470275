"""Real repo2docker builds through localhub's engine and builder, against the local Docker engine.

Every case repository is copied from tests/cases/ into a temporary git repository and built from its
`file://` URL. Everything created carries the label `localhub.test=1` and is removed at the end;
a failing assertion about a build shows that build's log.
"""

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import uuid
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import docker
import pytest
import repo2docker

from localhub.images.builder import Builder
from localhub.images.catalog import BUILDING_REPOSITORY, find_image, list_environments, remove_environment
from localhub.images.method import BUILDKIT_CLI, BUILDX, detect_build_method

pytestmark = pytest.mark.docker

CASES = Path(__file__).resolve().parents[1] / "cases"
BASE = "localhub/singleuser:test"
# this module's own run label: cleanup must never touch other tests' (or other sessions') objects
RUN_LABEL = f"localhub.test-run={uuid.uuid4().hex[:12]}"
TEST_LABEL = {"localhub.test": "1", "localhub.test-run": RUN_LABEL.split("=", 1)[1]}


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    try:
        client = docker.from_env(version="auto")
        client.ping()
    except docker.errors.DockerException as e:
        pytest.skip(f"Docker engine not reachable ({e}) — is Docker running?")
    try:
        client.images.get(BASE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{BASE} is missing: build the offline test images first")
    yield client
    _remove_test_objects(client)
    client.close()


def _remove_test_objects(client):
    for container in client.containers.list(all=True, filters={"label": RUN_LABEL}):
        container.remove(force=True)
    # Newest first, so children go before the images they were built on.
    images = client.images.list(all=True, filters={"label": RUN_LABEL})
    for image in sorted(images, key=lambda i: i.attrs["Created"], reverse=True):
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def builder(client, tmp_path):
    return Builder(client, tmp_path / "logs", extra_labels=TEST_LABEL)


class Repo:
    """A case copied into a temporary git repository."""

    def __init__(self, case: str, root: Path):
        self.path = root / case
        shutil.copytree(CASES / case, self.path, ignore=shutil.ignore_patterns("expect.toml"))
        self.expect = tomllib.loads((CASES / case / "expect.toml").read_text())
        self._git("init", "-q", "-b", "main")
        self.sha = self.commit("initial")

    @property
    def url(self) -> str:
        return self.path.as_uri()

    @property
    def spec(self) -> str:
        return "git/" + self.url.replace(":", "%3A").replace("/", "%2F") + "/main"

    def _git(self, *args) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
        return subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True).stdout.strip()

    def commit(self, message: str, **files: str) -> str:
        for name, text in files.items():
            (self.path / name).write_text(text)
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "-m", message)
        self.sha = self._git("rev-parse", "HEAD")
        return self.sha


@pytest.fixture
def repo(tmp_path):
    return lambda case: Repo(case, tmp_path)


async def collect(builder: Builder, *args, **kwargs):
    return [event async for event in builder.build(*args, **kwargs)]


def explain(builder: Builder, events) -> str:
    """What an assertion failure shows: the events' tail and the build's log."""
    image = next((e.image for e in events if e.image), None)
    names = [image] if image else [Path(p).stem for p in builder.logs_dir.glob("*.log")]
    logs = "\n".join(f"--- log {n}\n{builder.read_log(n) if image else (builder.logs_dir / (n + '.log')).read_text()}" for n in names)
    tail = "\n".join(f"  {e.phase}: {e.message}" for e in events[-15:])
    return f"last events:\n{tail}\n{logs}"


def assert_built(builder, events) -> str:
    assert events and events[-1].phase == "built", explain(builder, events)
    assert [e.phase for e in events].count("built") == 1 and "failed" not in {e.phase for e in events}
    return events[-1].image


def ls_home(client, image: str) -> list[str]:
    out = client.containers.run(image, ["ls", "-A", "/home/jovyan"], remove=True, labels=TEST_LABEL)
    return out.decode().split()


# --- tests --------------------------------------------------------------------------------------


async def test_dockerfile_repo_builds_from_a_git_url_then_is_reused(client, builder, repo, record_property):
    r = repo("dockerfile-basic")
    started = time.monotonic()
    events = await collect(builder, r.spec, r.url, r.sha)
    build_seconds = time.monotonic() - started
    image = assert_built(builder, events)
    assert builder.builds_started == 1

    phases = [e.phase for e in events]
    assert phases[0] == "fetching" and "building" in phases
    assert phases.index("building") > phases.index("fetching")
    progress = [e.progress for e in events if e.progress is not None]
    assert progress == sorted(progress) and 0 <= progress[0] and progress[-1] == 1.0
    assert any("COPY --chown=1000:1000" in e.message for e in events)  # the build output, line by line

    labels = client.images.get(image).labels
    assert labels["localhub.spec"] == r.spec
    assert labels["localhub.resolved"] == r.sha
    assert labels["localhub.repo2docker"] == repo2docker.__version__
    assert dt.datetime.fromisoformat(labels["localhub.built"]) <= dt.datetime.now(dt.timezone.utc)
    assert labels["localhub.test"] == "1"
    assert find_image(client, r.spec, r.sha).id == client.images.get(image).id

    log = builder.read_log(image)
    assert log and "Using DockerBuildPack builder" in log and "Building with" in log

    envs = [e for e in list_environments(client, TEST_LABEL) if e.image == image]
    assert len(envs) == 1 and envs[0].spec == r.spec and envs[0].resolved == r.sha and envs[0].size > 0

    started = time.monotonic()
    again = await collect(builder, r.spec, r.url, r.sha)
    cached_seconds = time.monotonic() - started
    assert [(e.phase, e.image) for e in again] == [("built", image)]
    assert builder.builds_started == 1  # nothing built the second time

    home = ls_home(client, image)
    for name in r.expect["image"]["home_contains"]:
        assert name in home, home
    assert ".git" not in home
    assert client.containers.run(image, ["id", "-un"], remove=True, labels=TEST_LABEL).decode().strip() == "jovyan"

    record_property("build_seconds", round(build_seconds, 2))
    record_property("cached_seconds", round(cached_seconds, 4))
    print(f"\nDockerfile case: built in {build_seconds:.2f} s, cached hit in {cached_seconds * 1000:.1f} ms")


async def test_a_new_commit_builds_a_new_image(client, builder, repo):
    r = repo("dockerfile-basic")
    first = assert_built(builder, await collect(builder, r.spec, r.url, r.sha))
    r.commit("more", **{"notes.md": "a new file\n"})
    events = await collect(builder, r.spec, r.url, r.sha)
    second = assert_built(builder, events)
    assert second != first and second.split(":")[0] == first.split(":")[0]
    assert builder.builds_started == 2
    assert "notes.md" in ls_home(client, second)
    assert "notes.md" not in ls_home(client, first)  # the old commit's image is still there, unchanged


async def test_a_built_image_is_announced_before_the_clone_is_removed(client, builder, repo, monkeypatch):
    """The launch waiting for `built` starts its server while the build's clone is removed (a removal that grows
    with the repository), and the clone still goes."""
    r = repo("dockerfile-basic")
    r.commit("clone removal", **{"clone.txt": "a commit of its own\n"})
    announced = threading.Event()
    real_rmtree = shutil.rmtree
    removal_waited = []

    def slow_rmtree(path, *args, **kwargs):  # a removal that takes until the build is announced, or 20 s
        if Path(path).parent == builder.checkouts:
            removal_waited.append(announced.wait(20))
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr("localhub.images.builder.shutil.rmtree", slow_rmtree)
    events = []
    async for event in builder.build(r.spec, r.url, r.sha):
        events.append(event)
        if event.phase == "built":
            announced.set()
    assert_built(builder, events)
    for _ in range(100):  # the builder removes the clone after it has announced the image
        if removal_waited and not any(builder.checkouts.iterdir()):
            break
        await asyncio.sleep(0.1)
    assert removal_waited == [True], "`built` came only once the clone was removed"
    assert not any(builder.checkouts.iterdir())


async def test_rebuild_builds_again_and_replaces_the_image(client, builder, repo):
    r = repo("dockerfile-basic")
    image = assert_built(builder, await collect(builder, r.spec, r.url, r.sha))
    old_id = client.images.get(image).id
    await asyncio.sleep(1.1)  # the built-at label has one-second resolution
    again = await collect(builder, r.spec, r.url, r.sha, rebuild=True)
    assert assert_built(builder, again) == image
    assert builder.builds_started == 2
    assert client.images.get(image).id != old_id
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(old_id)  # the replaced image does not linger untagged


async def test_concurrent_requests_share_one_build(client, builder, repo):
    r = repo("dockerfile-basic")
    r.commit("uncached", **{"concurrency.txt": "five callers\n"})
    results = await asyncio.wait_for(
        asyncio.gather(*(collect(builder, r.spec, r.url, r.sha) for _ in range(5))), 300
    )
    assert builder.builds_started == 1
    images = {assert_built(builder, events) for events in results}
    assert len(images) == 1
    waiting = [events for events in results if events[0].phase == "waiting"]
    leaders = [events for events in results if events[0].phase != "waiting"]
    assert len(leaders) == 1 and len(waiting) == 4
    for events in waiting:  # the log so far, then the live log: the same events the first caller saw
        assert events[1:] == leaders[0]
    assert builder.building() == []


async def test_a_failing_build_says_why_keeps_its_log_and_leaves_no_image(client, builder, repo):
    r = repo("dockerfile-broken")
    events = await collect(builder, r.spec, r.url, r.sha)
    assert events[-1].phase == "failed", explain(builder, events)
    assert [e.phase for e in events].count("failed") == 1 and "built" not in {e.phase for e in events}
    reason = events[-1].message
    assert "\n" not in reason and "Traceback" not in reason and len(reason) < 300
    for fragment in r.expect["build"]["reason_contains"]:
        assert fragment in reason, reason

    name = builder.image_name(r.spec, r.sha)
    log = builder.read_log(name)
    for fragment in r.expect["build"]["log_contains"]:
        assert fragment in log
    assert reason in log
    assert find_image(client, r.spec, r.sha) is None
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(name)
    leftovers = [t for i in client.images.list(filters={"label": RUN_LABEL}) for t in i.tags
                 if t.startswith(BUILDING_REPOSITORY + "/")]
    assert leftovers == []


async def test_a_missing_repository_is_reported_in_plain_words(builder, tmp_path):
    url = (tmp_path / "no-such-repo").as_uri()
    events = await collect(builder, "git/nowhere/main", url, "a" * 40)
    assert events[-1].phase == "failed"
    assert events[-1].message.startswith("repository not found"), events[-1].message


async def test_a_plain_folder_builds_by_content(client, builder, repo):
    folder = repo("dockerfile-basic").path
    shutil.rmtree(folder / ".git")
    image = assert_built(builder, events := await collect(builder, "dir/basic", str(folder)))
    assert events[0].phase == "fetching"
    assert (await collect(builder, "dir/basic", str(folder)))[-1].image == image
    assert builder.builds_started == 1
    (folder / "extra.txt").write_text("changed\n")
    changed = assert_built(builder, await collect(builder, "dir/basic", str(folder)))
    assert changed != image and builder.builds_started == 2
    with pytest.raises(ValueError):
        await collect(builder, "git/x/main", "file:///somewhere/else")  # a URL needs a resolved commit


async def test_buildkit_only_dockerfile_builds_with_the_detected_method(client, builder, repo):
    r = repo("dockerfile-buildkit")
    image = assert_built(builder, await collect(builder, r.spec, r.url, r.sha))
    assert "README.md" in ls_home(client, image)


async def test_the_legacy_builder_builds_plain_dockerfiles_and_refuses_buildkit_ones(client, builder, repo, monkeypatch):
    monkeypatch.setenv("LOCALHUB_BUILD_METHOD", "legacy-api")
    plain = repo("dockerfile-basic")
    events = await collect(builder, plain.spec, plain.url, plain.sha)
    image = assert_built(builder, events)
    assert "legacy builder" in builder.read_log(image)
    assert any(re.match(r"Step 2/\d+ : COPY --chown", e.message) for e in events)
    assert "index.ipynb" in ls_home(client, image)

    needs = repo("dockerfile-buildkit")
    events = await collect(builder, needs.spec, needs.url, needs.sha)
    assert events[-1].phase == "failed", explain(builder, events)
    assert needs.expect["build"]["needs_buildkit"] in events[-1].message
    assert "needs BuildKit" in events[-1].message

    buildpack = repo("requirements")  # repo2docker's generated Dockerfile (sent as a tar) uses COPY --chmod too
    events = await collect(builder, buildpack.spec, buildpack.url, buildpack.sha, base_image="localhub/base:test")
    assert events[-1].phase == "failed" and "`COPY --chmod`" in events[-1].message, events[-1].message
    assert builder.builds_started == 3


async def test_a_buildpack_dockerfile_goes_through_buildkit(client, builder, repo):
    """repo2docker hands buildpack builds over as a tar of the generated Dockerfile and the repository;
    offline they stop at the step that downloads micromamba, after the steps before it ran."""
    r = repo("requirements")
    events = await collect(builder, r.spec, r.url, r.sha, base_image="localhub/base:test")
    log = builder.read_log(builder.image_name(r.spec, r.sha))
    assert "Using PythonBuildPack builder" in log
    assert re.search(r"^#\d+ \[ ?2/\d+\] RUN apt-get", log, re.M), explain(builder, events)
    assert max(e.progress or 0 for e in events) > 0.2  # several of the generated steps ran
    final = events[-1]
    if final.phase == "failed":  # the usual case here: no internet
        assert final.message.startswith("the Dockerfile's step `RUN "), final.message
        assert "install-base-env.bash" in final.message, explain(builder, events)


async def test_a_build_can_be_cancelled(client, builder, repo):
    r = repo("dockerfile-slow")
    name = builder.image_name(r.spec, r.sha)
    events = []
    async for event in builder.build(r.spec, r.url, r.sha):
        events.append(event)
        if r.expect["build"]["cancel_after_line"] in event.message and event.phase == "building":
            assert await builder.cancel(name)
    assert events[-1].phase == "failed" and "cancelled" in events[-1].message
    assert builder.building() == []
    assert find_image(client, r.spec, r.sha) is None


async def test_removing_an_environment(client, builder, repo):
    r = repo("dockerfile-basic")
    image = assert_built(builder, await collect(builder, r.spec, r.url, r.sha))
    assert remove_environment(client, image) is True
    assert remove_environment(client, image) is False
    assert all(e.image != image for e in list_environments(client))
    with pytest.raises(ValueError):
        remove_environment(client, BASE)  # not one of ours


FAKE_BUILDX = """#!{python}
# A docker CLI that claims the buildx plugin and turns `buildx build` into a BuildKit classic build.
import json, os, sys
real, record = {real!r}, {record!r}
args = sys.argv[1:]
if args[:2] == ["buildx", "version"]:
    print("buildx (localhub test stand-in)")
    sys.exit(0)
if args[:2] == ["buildx", "build"]:
    with open(record, "a") as f:
        f.write(json.dumps(args) + "\\n")
    os.execve(real, [real, "build", *[a for a in args[2:] if a != "--load"]], {{**os.environ, "DOCKER_BUILDKIT": "1"}})
os.execv(real, [real, *args])
"""


async def test_with_buildx_the_engine_hands_the_build_to_repo2dockers_own_buildx_call(client, builder, repo, tmp_path, monkeypatch):
    method = detect_build_method()
    if method.kind not in (BUILDX, BUILDKIT_CLI):
        pytest.skip("needs a docker CLI that can build with BuildKit to stand behind the fake buildx")
    fake_dir, record = tmp_path / "fake-bin", tmp_path / "buildx-calls.jsonl"
    fake_dir.mkdir()
    fake = fake_dir / "docker"
    fake.write_text(FAKE_BUILDX.format(python=sys.executable, real=method.cli, record=str(record)))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_dir}{os.pathsep}{os.environ['PATH']}")

    r = repo("dockerfile-basic")
    image = assert_built(builder, events := await collect(builder, r.spec, r.url, r.sha))
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 1, explain(builder, events)
    assert calls[0][:4] == ["buildx", "build", "--progress", "plain"] and "--load" in calls[0]
    assert "localhub.test=1" in calls[0]
    assert "index.ipynb" in ls_home(client, image)
