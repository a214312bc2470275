"""Damaged state files, as a disk that filled up or a hand edit leaves them (issue 10 item 7): a damaged
database is refused with the way out and `localhub recover` brings every server back with its files; an empty
API token and a wrong-shaped launches.json are a clear sentence or nothing at all, never an unexpected error."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import docker
import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.docker, pytest.mark.xdist_group("damaged-state")]  # one hub, one worker

CASES = Path(__file__).resolve().parents[1] / "cases"


def one_sentence(proc) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr and "unexpected error" not in proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("localhub: ") and len(err.splitlines()) == 1, proc.stderr
    return err


@pytest.fixture(scope="module")
def dhub(hub_factory):
    hub = hub_factory.start("damaged")
    yield hub
    hub_factory.close(hub)  # its servers first: their images are in use until then
    with closing(docker.from_env()) as engine:  # the environment the launch below built
        for image in engine.images.list(filters={"label": f"localhub.instance={hub.instance}"}):
            try:
                engine.images.remove(image.id, force=True)
            except docker.errors.APIError as err:  # a container the clean-up raced (a storage meter): kept
                print(f"could not remove image {image.id[:19]}: {err}")


def new_server_holding(hub, name: str, file: str, text: str) -> None:
    hub.cli("servers", "new", name)
    (container,) = [c for c in hub.containers(all=False) if c.name.endswith(f"--{name}")]
    assert container.exec_run(["sh", "-c", f"echo {text} > ~/{file}"]).exit_code == 0


def read_back(hub, name: str, file: str) -> str:
    hub.cli("servers", "start", name)
    (container,) = [c for c in hub.containers(all=False) if c.name.endswith(f"--{name}")]
    return container.exec_run(["cat", f"/home/jovyan/{file}"]).output.decode().strip()


def test_a_damaged_database_is_refused_and_recover_brings_the_servers_back(dhub):
    new_server_holding(dhub, "thesis", "draft.txt", "chapter-1")
    dhub.cli("down")
    database = dhub.state_dir / "jupyterhub.sqlite"
    whole = database.read_bytes()

    for damage in (b"", whole[: len(whole) // 2]):
        database.write_bytes(damage)
        err = one_sentence(dhub.cli("up", "--detach", "--port", str(dhub.port), check=False))
        assert str(database) in err and "thesis" in err and "`localhub recover`" in err, err
        assert "No localhub is running" in dhub.cli("status", check=False).stdout

    recovered = dhub.cli("recover", "--port", str(dhub.port))
    assert "Server 'thesis' is back" in recovered.stdout
    (kept,) = dhub.state_dir.glob("jupyterhub.sqlite.damaged-*")
    assert kept.read_bytes() == whole[: len(whole) // 2]  # the damaged file is set aside, not deleted
    assert read_back(dhub, "thesis", "draft.txt") == "chapter-1"
    again = dhub.cli("recover")  # with the hub running and nothing forgotten: says so
    assert "nothing to bring back" in again.stdout


def test_a_missing_database_is_refused_while_named_homes_exist_and_recover_brings_them_back(dhub):
    """A deleted jupyterhub.sqlite started a blank hub that had forgotten every named server (a stranger found it)."""
    new_server_holding(dhub, "notes", "notes.txt", "kept")
    dhub.cli("down")
    database = dhub.state_dir / "jupyterhub.sqlite"
    database.unlink()
    err = one_sentence(dhub.cli("up", "--detach", "--port", str(dhub.port), check=False))
    assert "is missing" in err and "notes" in err and "`localhub recover`" in err, err
    assert not database.exists()
    recovered = dhub.cli("recover", "--port", str(dhub.port))
    assert "Server 'notes' is back" in recovered.stdout
    assert "alembic" not in recovered.stdout + recovered.stderr
    assert database.stat().st_mode & 0o077 == 0
    assert read_back(dhub, "notes", "notes.txt") == "kept"


def test_a_server_still_running_when_its_database_was_lost_starts_at_the_first_try_after_recover(dhub):
    """`down --keep-servers`, then the database is lost: recover lists the server stopped while its container still
    runs, and the first start was an Internal Server Error (DockerSpawner takes Docker's 409 for a running
    container's removal as 'already removing', then cannot create a container of the same name)."""
    new_server_holding(dhub, "kept-running", "live.txt", "still-here")
    dhub.cli("down", "--keep-servers")
    assert [c for c in dhub.containers(all=False) if c.name.endswith("--kept-running")]
    database = dhub.state_dir / "jupyterhub.sqlite"
    database.write_bytes(b"")
    assert "Server 'kept-running' is back" in dhub.cli("recover", "--port", str(dhub.port)).stdout
    assert read_back(dhub, "kept-running", "live.txt") == "still-here"


def test_an_empty_api_token_is_one_sentence_and_restart_makes_a_new_one(dhub):
    (dhub.state_dir / "secrets" / "api-token").write_text("")
    err = one_sentence(dhub.cli("servers", "ls", check=False))
    assert "api-token" in err and "is empty" in err and "localhub restart" in err
    dhub.cli("restart")
    assert dhub.token and dhub.cli("servers", "ls").returncode == 0


def test_a_wrong_shaped_launches_file_does_not_break_launches(dhub):
    (dhub.state_dir / "launches.json").write_text('{"spec": "not a list"}')
    launched = dhub.cli("launch", str(CASES / "dockerfile-basic"), "--json", timeout=600)
    ready = json.loads(launched.stdout.splitlines()[-1])
    assert ready["phase"] == "ready"
    assert [e["server"] for e in json.loads((dhub.state_dir / "launches.json").read_text())] == [ready["server"]]
