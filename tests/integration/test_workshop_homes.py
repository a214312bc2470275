"""A server's home read and written through the engine (workshop/homes.py), on a real volume: material merged
twice keeps an edit made in the home between the two, files are the server user's, a folder or link of the
person's in the way is left alone, and a hand-in archive holds exactly what the home holds."""

from __future__ import annotations

import io
import tarfile
import uuid
from contextlib import closing

import docker
import pytest

from localhub.errors import LocalhubError
from localhub.workshop.homes import Home
from localhub.workshop.merge import plan_merge, snapshot_dir

pytestmark = pytest.mark.docker
IMAGE = "localhub/singleuser:test"


@pytest.fixture
def volume():
    with closing(docker.from_env()) as client:
        name = f"localhub-test-home-{uuid.uuid4().hex[:8]}"
        client.volumes.create(name, labels={"localhub.test": "1"})
        yield client, name
        for container in client.containers.list(all=True, filters={"label": "localhub.workshop=home-access"}):
            if any(m.get("Name") == name for m in container.attrs.get("Mounts", [])):
                container.remove(force=True)
        client.volumes.get(name).remove(force=True)


def run_in_home(client, volume: str, command: str) -> str:
    return client.containers.run(IMAGE, ["sh", "-c", command], remove=True, user="1000:1000", network_disabled=True,
                                 volumes={volume: {"bind": "/home/jovyan", "mode": "rw"}},
                                 labels={"localhub.test": "1"}).decode()


def merge(client, volume, folder, newer_root, base):
    newer = snapshot_dir(newer_root)
    with Home(client, volume, IMAGE, {"localhub.test": "1"}) as home:
        plan = plan_merge(base, newer, home.snapshot(folder, set(base) | set(newer)), label="v2",
                          occupied=lambda p: home.exists(f"{folder}/{p}"))
        home.write(folder, [(dest, (newer_root / source).read_bytes(), False) for dest, source in plan.writes()])
    return plan


def test_material_merged_twice_into_a_real_home_keeps_the_edit(volume, tmp_path):
    client, name = volume
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    for d, files in ((v1, {"a.py": "one\n", "sub/b.txt": "b\n"}), (v2, {"a.py": "one, fixed\n", "sub/b.txt": "b2\n",
                                                                         "c.md": "new\n"})):
        for rel, text in files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text(text)
    first = merge(client, name, "day1", v1, {})
    assert sorted(d.path for d in first.decisions) == ["a.py", "sub/b.txt"]
    assert run_in_home(client, name, "stat -c '%u %n' day1 day1/a.py day1/sub/b.txt").split("\n")[:3] == \
        ["1000 day1", "1000 day1/a.py", "1000 day1/sub/b.txt"]
    run_in_home(client, name, "echo 'my answer' >> day1/a.py && mkdir -p day1/c.md")  # an edit, and a folder in the way
    second = merge(client, name, "day1", v2, first.base_after)
    shown = run_in_home(client, name, "cat day1/a.py; echo ---; cat day1/a.v2.py; echo ---; cat day1/sub/b.txt; "
                                      "echo ---; ls -d day1/c.md/")
    assert shown == "one\nmy answer\n---\none, fixed\n---\nb2\n---\nday1/c.md/\n"
    assert {d.path: d.action for d in second.conflicts} == {"a.py": "conflict", "c.md": "conflict"}

    with Home(client, name, IMAGE, {"localhub.test": "1"}) as home:
        archive = home.archive("day1/sub")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.extractfile("sub/b.txt").read() == b"b2\n"


def test_a_file_or_link_where_the_folder_goes_is_refused_in_one_sentence_and_kept(volume, tmp_path):
    client, name = volume
    run_in_home(client, name, "echo mine > day1 && ln -s /etc day2")
    for folder, what in (("day1", "file"), ("day2", "link")):
        with Home(client, name, IMAGE, {"localhub.test": "1"}) as home:
            with pytest.raises(LocalhubError, match=f"^'{folder}' in the home is a {what}, not a folder"):
                home.snapshot(folder, {"a.py"})
    assert run_in_home(client, name, "cat day1; readlink day2") == "mine\n/etc\n"


def test_paths_outside_the_home_are_refused(volume):
    client, name = volume
    with Home(client, name, IMAGE) as home:
        for bad in ("../etc/passwd", "/etc/passwd"):
            with pytest.raises(Exception, match="not a path inside the home"):
                home.archive(bad)
