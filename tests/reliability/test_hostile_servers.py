"""Hostile repositories and images against a real hub (issue 10's reliability suite, the server half):
a crash at start, a slow crash while another server starts, root images. Each is used as a stranger would,
through the CLI, and what the user reads is checked."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path

import docker
import httpx
import pytest

from tests.support.binder import remove_images_under

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

REPOS = Path(__file__).parent / "repos"
RUN = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def images():
    """The hostile images, built once from tests/reliability/repos, removed afterwards."""
    built = {}
    with closing(docker.from_env()) as client:
        for name in ("slow-crash", "root-user", "root-only"):
            tag = f"localhub-test/hostile-{name}:{RUN}"
            client.images.build(path=str(REPOS / name), tag=tag, labels={"localhub.test": "1"}, rm=True)
            built[name] = tag
        yield built
        for tag in built.values():
            try:
                client.images.remove(tag, force=True)
            except docker.errors.APIError:
                pass


@pytest.fixture(scope="module")
def hhub(hub_factory):
    return hub_factory.start("hostile")


def one_sentence(proc, after_progress: bool = False) -> str:
    """The error a command ended with: one line (after the launch's progress display, when it has one)."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    err = lines[-1] if after_progress else proc.stderr.strip()
    assert err.startswith("localhub: ") and (after_progress or len(lines) == 1), proc.stderr
    return err


def server(hub, name: str) -> dict:
    servers = json.loads(hub.cli("servers", "ls", "--json").stdout)
    return next(s for s in servers if s["name"] == name)


def test_a_repository_that_crashes_at_start_is_a_clear_failure_with_its_log_kept(hhub, tmp_path):
    repo = tmp_path / "crash-at-start"
    shutil.copytree(REPOS / "crash-at-start", repo)
    try:
        crashed_at_start(hhub, repo)
    finally:
        remove_images_under(tmp_path)  # one image per run was left behind before


def crashed_at_start(hhub, repo: Path) -> None:
    launched = hhub.cli("launch", str(repo), check=False, timeout=600)
    err = one_sentence(launched, after_progress=True)
    assert "Ready" not in launched.stdout
    assert "exit code 3" in err and "boom: this environment cannot start" in err, err
    assert "Internal Server Error" not in err
    name = server(hhub, "crash-at-start")["name"]
    assert server(hhub, name)["status"] == "stopped"
    logs = hhub.cli("servers", "logs", name).stdout
    assert "boom: this environment cannot start" in logs  # kept although the container stopped


def test_a_slow_crash_is_never_ready_even_when_another_server_takes_its_address(hhub, images):
    """A dies after a few seconds without answering; B starts right after and gets A's address from Docker.
    A must fail with its own exit code, B must be ready, and A's URL must not lead into B."""
    results = {}

    def start_crashing():
        results["a"] = hhub.cli("servers", "new", "slowcrash", "--image", images["slow-crash"], check=False)

    thread = threading.Thread(target=start_crashing)
    thread.start()
    a_ip = None
    with closing(docker.from_env()) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # the list as the API gives it (no inspection per container: others come and go meanwhile)
            found = [c for c in client.api.containers(all=True, filters={"label": f"localhub.instance={hhub.instance}"})
                     if c["Names"][0].endswith("--slowcrash")]
            if found and found[0]["State"] == "running":
                a_ip = a_ip or next(iter(found[0]["NetworkSettings"]["Networks"].values()))["IPAddress"]
            if found and found[0]["State"] == "exited":
                break
            time.sleep(0.05)
        results["b"] = hhub.cli("servers", "new", "taker", check=False)
        taker = [c for c in hhub.containers(all=False) if c.name.endswith("--taker")][0]
        b_ip = next(iter(taker.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    thread.join()

    err = one_sentence(results["a"])
    assert "exit code 5" in err and "boom: gave up" in err, err
    assert results["b"].returncode == 0, results["b"].stderr
    assert b_ip == a_ip, "the scenario needs Docker to hand A's address to B (it does on this engine)"
    answer = httpx.get(f"{hhub.url}/user/{hhub.user}/slowcrash/api", headers={"Authorization": f"token {hhub.token}"},
                       follow_redirects=False)
    assert answer.status_code != 200 or "version" not in answer.text  # not B's server answering as A
    assert server(hhub, "slowcrash")["status"] == "stopped"
    assert server(hhub, "taker")["status"] == "running"
    hhub.cli("servers", "delete", "taker", "--yes")
    hhub.cli("servers", "delete", "slowcrash", "--yes")


def test_an_image_that_ends_as_root_runs_as_its_ordinary_user(hhub, images):
    hhub.cli("servers", "new", "rooty", "--image", images["root-user"])
    (container,) = [c for c in hhub.containers(all=False) if c.name.endswith("--rooty")]
    assert container.exec_run(["id", "-u"]).output.decode().strip() == "1000"
    hhub.cli("servers", "delete", "rooty", "--yes")


def test_an_image_with_only_root_is_refused_with_the_reason(hhub, images):
    err = one_sentence(hhub.cli("servers", "new", "rootonly", "--image", images["root-only"], check=False))
    assert "runs as root" in err and "USER ${NB_USER}" in err
    assert not [c for c in hhub.containers() if c.name.endswith("--rootonly")]
