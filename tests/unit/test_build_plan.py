"""Build plans (localhub.images.plan) for the case repositories, with every network call refused."""

import shutil
import socket
import tomllib
from pathlib import Path

import pytest

from localhub.images.plan import build_plan

pytestmark = pytest.mark.unit

CASES = Path(__file__).resolve().parents[1] / "cases"
PLANNED = sorted(p.name for p in CASES.iterdir() if (p / "expect.toml").is_file())


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve a name or open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"build_plan tried to use the network: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def copy_case(name: str, into: Path) -> Path:
    repo = into / name
    shutil.copytree(CASES / name, repo, ignore=shutil.ignore_patterns("expect.toml"))
    return repo


@pytest.mark.parametrize("case", PLANNED)
def test_plan_matches_the_case(case, tmp_path, no_network):
    expect = tomllib.loads((CASES / case / "expect.toml").read_text())["plan"]
    plan = build_plan(copy_case(case, tmp_path))
    assert plan.buildpack == expect["buildpack"]
    for fragment in expect.get("dockerfile_contains", []):
        assert fragment in plan.dockerfile, f"{case}: {fragment!r} not in the generated Dockerfile"


def test_expected_buildpacks_are_covered():
    wanted = {"PythonBuildPack", "CondaBuildPack", "RBuildPack", "JuliaProjectTomlBuildPack", "DockerBuildPack"}
    seen = {tomllib.loads((CASES / c / "expect.toml").read_text())["plan"]["buildpack"] for c in PLANNED}
    assert wanted <= seen


def test_dockerfile_repo_plan_is_the_repos_own_dockerfile(tmp_path, no_network):
    repo = copy_case("dockerfile-basic", tmp_path)
    plan = build_plan(repo)
    assert plan.dockerfile == (repo / "Dockerfile").read_text()
    assert plan.notes == ()


def test_buildpack_plans_use_the_image_user_and_base(tmp_path, no_network):
    plan = build_plan(copy_case("requirements", tmp_path), base_image="localhub/base:test")
    assert plan.dockerfile.lstrip().startswith("FROM localhub/base:test")
    assert "COPY --chown=1000:1000 src/requirements.txt" in plan.dockerfile
    assert "COPY --chmod=0755" in plan.dockerfile  # why buildpack builds need BuildKit


def test_offline_stand_ins_are_noted(tmp_path, no_network):
    julia = build_plan(copy_case("julia-project", tmp_path))
    r = build_plan(copy_case("install-r", tmp_path))
    assert julia.notes and "Julia" in julia.notes[0]
    assert r.notes and "R-PACKAGE-SNAPSHOT-2025-01-15" in r.dockerfile


def test_empty_folder_gets_the_default_buildpack(tmp_path, no_network):
    assert build_plan(tmp_path).buildpack == "PythonBuildPack"


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_plan(tmp_path / "nope")
