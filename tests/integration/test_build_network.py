"""A full repo2docker buildpack build (requirements.txt): needs the internet for the base image,
micromamba and conda-forge packages, so it is skipped, with the reason, where there is none."""

import shutil
import socket
import subprocess
import threading
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import docker
import pytest

from localhub.images.builder import Builder
from localhub.images.method import BUILDX, BUILDKIT_CLI, detect_build_method

pytestmark = [pytest.mark.network, pytest.mark.docker]

CASES = Path(__file__).resolve().parents[1] / "cases"
TEST_LABEL = {"localhub.test": "1"}


def conda_forge_host() -> str:
    """The host repo2docker's conda buildpack fetches packages from, read from its own lock files."""
    import repo2docker.buildpacks.conda as conda

    for lock in sorted(Path(conda.__file__).parent.glob("environment.py-*-linux-64.lock")):
        for line in lock.read_text().splitlines():
            if line.startswith("https://"):
                return urlsplit(line).hostname
    raise RuntimeError("repo2docker's conda lock files name no package host")


def reachable(host: str, port: int = 443, timeout: float = 5.0) -> bool:
    """Resolve and connect within `timeout` (name resolution has no timeout of its own: use a thread)."""
    result = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result)


@pytest.fixture(scope="module")
def online():
    host = conda_forge_host()
    if not reachable(host):
        pytest.skip(f"no network: cannot connect to the conda-forge host {host}:443 within 5 s")
    if detect_build_method().kind not in (BUILDX, BUILDKIT_CLI):
        pytest.skip("buildpack Dockerfiles need BuildKit, and this machine has only the legacy builder")


@pytest.fixture
def client():
    client = docker.from_env(version="auto")
    yield client
    for image in client.images.list(filters={"label": "localhub.test=1"}):
        client.images.remove(image.id, force=True)


async def test_requirements_repo_builds_with_the_python_buildpack(online, client, tmp_path):
    repo = tmp_path / "requirements"
    shutil.copytree(CASES / "requirements", repo, ignore=shutil.ignore_patterns("expect.toml"))
    expect = tomllib.loads((CASES / "requirements" / "expect.toml").read_text())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "initial"], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()

    builder = Builder(client, tmp_path / "logs", extra_labels=TEST_LABEL)
    events = [e async for e in builder.build("git/requirements/main", repo.as_uri(), sha)]
    final = events[-1]
    assert final.phase == "built", f"{final.message}\n{builder.read_log(builder.image_name('git/requirements/main', sha))}"
    assert "Using PythonBuildPack builder" in builder.read_log(final.image)
    for module in expect["image"]["python_imports"]:
        client.containers.run(final.image, ["python", "-c", f"import {module}"], remove=True, labels=TEST_LABEL)
