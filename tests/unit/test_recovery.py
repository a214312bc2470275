"""A damaged database is refused with the way out, and recovery's decisions: which homes become servers again,
with which options (recovery.py); damaged small state files are not fatal."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from localhub.errors import LocalhubError
from localhub.launcher import RecentLaunches
from localhub.recovery import Home, check_database, database_problem, homes, homes_to_adopt, new_database, set_aside
from localhub.state import secret_file
from localhub.storage import home_volume_name

pytestmark = pytest.mark.unit


def hub_database(path, users: int = 2000):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO users (name) VALUES (?)", [(f"user-{i}" * 20,) for i in range(users)])
    db.commit()
    db.close()
    return path


def test_database_problems_are_named(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    assert database_problem(path) is None  # a new hub
    path.write_bytes(b"")
    assert database_problem(path) == "is empty"
    path.write_bytes(b"<html>not a database</html>")
    assert database_problem(path) == "is not an SQLite database"
    path.unlink()
    hub_database(path)
    assert database_problem(path) is None
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated: a disk that filled up, a copy cut short
    assert database_problem(path).startswith("is damaged")
    path.unlink()
    sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.close()
    assert database_problem(path) == "holds no hub data"


def test_a_damaged_database_is_refused_naming_the_servers_and_the_way_out(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    path.write_bytes(b"")
    found = [Home("v1", "me", ""), Home("v2", "me", "thesis"), Home("v3", "me", "course")]
    with pytest.raises(LocalhubError) as refused:
        check_database(path, found)
    message = str(refused.value)
    assert "is empty" in message and "thesis" in message and "course" in message
    assert "`localhub recover`" in message and path.exists()


def test_an_empty_database_with_nothing_to_lose_is_started_over(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    path.write_bytes(b"")
    check_database(path, [])  # a first start that was interrupted before JupyterHub wrote anything
    assert not path.exists()


def test_a_missing_database_is_refused_only_when_named_servers_would_be_forgotten(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    check_database(path, [])  # a new hub
    check_database(path, [Home("v1", "me", "")])  # the default server's home is used again when it starts
    with pytest.raises(LocalhubError) as refused:
        check_database(path, [Home("v1", "me", ""), Home("v2", "me", "thesis")])
    assert "is missing" in str(refused.value) and "thesis" in str(refused.value)
    assert "`localhub recover`" in str(refused.value)


def test_recover_starts_on_a_new_private_database_jupyterhub_made(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    new_database(path)
    assert database_problem(path) is None and path.stat().st_mode & 0o077 == 0
    check_database(path, [Home("v2", "me", "thesis")])  # now accepted: recover adopts the homes


def test_set_aside_keeps_the_damaged_file(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    path.write_bytes(b"garbage")
    (tmp_path / "jupyterhub.sqlite-journal").write_bytes(b"journal")
    kept = set_aside(path)
    assert not path.exists() and kept.read_bytes() == b"garbage" and kept.name.startswith("jupyterhub.sqlite.damaged-")
    assert (kept.parent / (kept.name + "-journal")).read_bytes() == b"journal"
    assert set_aside(path) is None


class FakeVolumes:
    def __init__(self, volumes):
        self._volumes = volumes

    def list(self, filters):
        assert filters == {"label": "localhub.instance=i1"}
        return self._volumes


def volume(name, **labels):
    return SimpleNamespace(name=name, attrs={"Labels": labels})


def test_homes_are_the_volumes_named_for_their_labelled_server():
    docker = SimpleNamespace(volumes=FakeVolumes([
        volume(home_volume_name("i1", "me", "thesis"), **{"localhub.user": "me", "localhub.server": "thesis"}),
        volume(home_volume_name("i1", "me", ""), **{"localhub.user": "me", "localhub.server": ""}),
        # a home brought back from a lab peer next to the server's own: not a server of its own
        volume(home_volume_name("i1", "me", "thesis") + "--from-desk-20260101-1200",
               **{"localhub.user": "me", "localhub.server": "thesis"}),
        volume("someone-elses", **{"localhub.user": "me"}),
    ]))
    assert homes(docker, "i1") == [Home(home_volume_name("i1", "me", ""), "me", ""),
                                   Home(home_volume_name("i1", "me", "thesis"), "me", "thesis")]


def test_which_homes_become_servers_again_and_with_what():
    found = [Home("v0", "me", ""), Home("v1", "me", "thesis"), Home("v2", "me", "climate"),
             Home("v3", "me", "known"), Home("v4", "other", "theirs"), Home("v5", "me", "survivor")]
    recent = [{"spec": "gh/org/climate/HEAD", "server": "climate", "path": "/v2/gh/org/climate/HEAD"},
              "damaged entry", {"spec": 3}]
    environments = [SimpleNamespace(spec="gh/org/climate/HEAD", image="localhub-env/climate:new"),
                    SimpleNamespace(spec="gh/org/climate/HEAD", image="localhub-env/climate:old")]
    containers = [SimpleNamespace(labels={"localhub.user": "me", "localhub.server": "survivor",
                                          "localhub.profile": "large"}, attrs={"Config": {"Image": "lab/img:2"}})]
    adopted = {a.server: a.user_options for a in homes_to_adopt("me", {"known", ""}, found, recent, environments,
                                                                   containers)}
    assert adopted == {
        "thesis": {},  # a plain server: its files come back, with the default profile and image
        "climate": {"spec": "gh/org/climate/HEAD", "image": "localhub-env/climate:new"},  # found again by its link
        "survivor": {"profile": "large", "image": "lab/img:2"},  # its container outlived the database
    }


@pytest.mark.parametrize("text", ['{"a": 1}', "[1, 2]", '[{"spec": 1}]', "not json", '"text"', "[null]"])
def test_a_wrong_shaped_launches_file_is_not_fatal(tmp_path, text):
    path = tmp_path / "launches.json"
    path.write_text(text)
    recent = RecentLaunches(path)
    assert recent.list() == []
    launch = SimpleNamespace(spec="gh/org/repo/HEAD", urlpath=None, binder_path=lambda: "/v2/gh/org/repo/HEAD")
    recent.add(launch, "repo")  # the end of every launch: it used to fail here
    assert [e["server"] for e in recent.list()] == ["repo"]


def test_an_empty_secret_is_made_anew(tmp_path):
    path = tmp_path / "api-token"
    path.write_text("\n")
    value = secret_file(path)
    assert len(value) == 64 and path.read_text() == value
    assert secret_file(path) == value  # and then kept
