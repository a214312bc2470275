"""A daemon killed with SIGKILL in the middle of a build (issue 10, item 5), the builder's side.

Before: repo2docker ran in a session of its own and went on building after its daemon died, the engine
finished the build into a `localhub-building/…` image that no command could see, and `up` never removed it.
Now the build dies with its daemon (no repo2docker, docker CLI or RUN step left), and a starting daemon
removes what an interrupted build of its own left: its temporary image and its clone.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

import docker
import pytest

from localhub.images.builder import Builder
from localhub.images.catalog import BUILDING_REPOSITORY, LABEL_SPEC, image_name
from tests.support.binder import CaseRepo, git_spec

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

BASE = "localhub/singleuser:test"
RUN = uuid.uuid4().hex[:12]
LABELS = {"localhub.test": "1", "localhub.test-run": RUN, "localhub.instance": f"killtest-{RUN}"}

# Runs a Builder in a process of its own, as the daemon does, and prints every build event as a JSON line.
DRIVER = """
import asyncio, json, sys
import docker
from localhub.images.builder import Builder

async def main(spec, url, ref, logs, labels):
    builder = Builder(docker.from_env(), logs, extra_labels=json.loads(labels))
    async for event in builder.build(spec, url, ref):
        print(json.dumps(event.to_dict()), flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def engine():
    with closing(docker.from_env()) as client:
        try:
            client.images.get(BASE)
        except docker.errors.ImageNotFound:
            pytest.skip(f"{BASE} is missing: build the offline test images first (scripts/build-images.sh)")
        yield client
        for image in client.images.list(all=True, filters={"label": f"localhub.test-run={RUN}"}):
            try:
                client.images.remove(image.id, force=True)
            except docker.errors.NotFound:
                pass


def processes_with(text: str) -> list[str]:
    """Command lines of the processes on this machine that contain `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(pid) != os.getpid():
            found.append(f"{pid}: {cmdline.strip()}")
    return found


def wait_until_gone(text: str, seconds: float = 20) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := processes_with(text)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_build_dies_with_its_daemon(engine, tmp_path):
    # a RUN step that sleeps for a number of seconds no other test uses: its process is this build's
    seconds = random.randint(400, 999)
    repo = CaseRepo("dockerfile-basic", tmp_path, "slow")
    repo.commit("slow step", {"Dockerfile": f'FROM {BASE}\nRUN echo "sleeping" && sleep {seconds}\n'})
    spec = git_spec(repo.url)
    building = image_name(spec, repo.head).replace("localhub-env/", BUILDING_REPOSITORY + "/").rsplit(":", 1)[0]
    logs = tmp_path / "logs"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, spec, repo.url, repo.head, str(logs), json.dumps(LABELS)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in driver.stdout:
            seen.append(line)
            if f"sleep {seconds}" in line:  # the step starts
                break
        deadline = time.monotonic() + 30
        while not processes_with(f"sleep {seconds}") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_with(f"sleep {seconds}"), f"the slow step never ran: {''.join(seen)[-2000:]}"
        assert processes_with(building), "no build process names the temporary image"
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)

    try:
        assert wait_until_gone(building) == [], "repo2docker or the docker CLI outlived the daemon"
        assert wait_until_gone(f"sleep {seconds}") == [], "the engine went on running the build's RUN step"
    finally:  # a failure must not leave the build running on the shared engine
        for line in processes_with(building) + processes_with(f"sleep {seconds}"):
            try:
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not [t for i in engine.images.list(filters={"label": f"localhub.test-run={RUN}"}) for t in i.tags
                if t.startswith(building)], "an image was made by a build whose daemon was killed"

    # what a restarted daemon does before it builds anything: the clone, kept in the builder's folder, goes too
    assert any((logs / ".checkouts").iterdir())
    assert Builder(engine, logs, extra_labels=LABELS).remove_interrupted() == []
    assert not (logs / ".checkouts").exists()


def _tag_temporary_image(engine, tmp_path: Path, name: str, labels: dict) -> None:
    context = tmp_path / name.replace("/", "_").replace(":", "_")
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BASE}\n")
    engine.images.build(path=str(context), tag=name, labels=labels, rm=True)


def test_a_starting_daemon_removes_the_temporary_images_its_builds_left(engine, tmp_path):
    ours = f"{BUILDING_REPOSITORY}/killtest-{RUN}:0123456789ab-deadbeef"
    others = f"{BUILDING_REPOSITORY}/killtest-{RUN}-other:0123456789ab-deadbeef"
    _tag_temporary_image(engine, tmp_path, ours, {**LABELS, LABEL_SPEC: "git/x/HEAD"})
    _tag_temporary_image(engine, tmp_path, others,
                         {**LABELS, "localhub.instance": "another-hub", LABEL_SPEC: "git/x/HEAD"})
    leftover_clone = tmp_path / "logs" / ".checkouts" / "checkout-x"
    leftover_clone.mkdir(parents=True)

    removed = Builder(engine, tmp_path / "logs", extra_labels=LABELS).remove_interrupted()

    assert removed == [ours]
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(ours)
    engine.images.get(others)  # another hub's build may still be running: never touched
    assert not leftover_clone.exists()
    shutil.rmtree(tmp_path / "logs", ignore_errors=True)


def test_up_removes_what_a_killed_daemons_build_left(engine, hub_factory, tmp_path):
    hub = hub_factory.create("after-kill")
    leftover = f"{BUILDING_REPOSITORY}/killtest-{RUN}-up:0123456789ab-deadbeef"
    _tag_temporary_image(engine, tmp_path, leftover,
                         {**LABELS, "localhub.instance": hub.instance, LABEL_SPEC: "git/x/HEAD"})
    try:
        hub.up()
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(leftover)
        assert f"removed {leftover}" in (hub.state_dir / "logs" / "daemon.log").read_text()
    finally:
        hub_factory.close(hub)
