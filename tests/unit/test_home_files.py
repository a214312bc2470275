"""The decisions of home_files.py: which files of a newer commit go into a home, what is kept, what is said, and
what the home is recorded to hold, against a stand-in engine whose home volumes are folders (the engine suite,
tests/integration/test_home_files.py, proves the same through the real engine and hub)."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path
from types import SimpleNamespace

import docker.errors
import pytest

from localhub.errors import LocalhubError
from localhub.home_files import HomeFiles, HomeRecords, commit_label, describe, unpack_home
from localhub.workshop.merge import snapshot_dir
from tests.unit.daemon_fakes import FakeDaemon, serve

pytestmark = pytest.mark.unit

INSTANCE, USER = "abcd1234", "me"
A, B, C = "a" * 40, "b" * 40, "c" * 40


def home_tar(files: dict[str, bytes], extra=()) -> bytes:
    """The engine's archive of /home/jovyan: the folder `jovyan` at the top."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(f"jovyan/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buf.getvalue()


class Engine:
    """The part of the Docker SDK home_files.py uses: images with a home, volumes that are folders."""

    def __init__(self, root: Path):
        self.root = root
        self.stored: dict[str, SimpleNamespace] = {}  # images by name
        self.volumes: dict[str, str] = {}  # name -> CreatedAt
        self.created: list[str] = []
        self.images = SimpleNamespace(get=self._image)
        self.api = SimpleNamespace(inspect_volume=self._volume, get_archive=self._archive)
        self.containers = SimpleNamespace(create=self._create)

    def add_image(self, name: str, commit: str, files: dict[str, str]) -> None:
        self.stored[name] = SimpleNamespace(id=f"sha256:{name}", labels={"localhub.resolved": commit},
                                            home={p: t.encode() for p, t in files.items()})

    def _image(self, name: str):
        for key, image in self.stored.items():
            if name in (key, image.id):
                return image
        raise docker.errors.ImageNotFound(name)

    def _volume(self, name: str) -> dict:
        if name not in self.volumes:
            raise docker.errors.NotFound(name)
        return {"Name": name, "CreatedAt": self.volumes[name]}

    def _create(self, image: str, **kwargs):
        self.created.append(image)
        return SimpleNamespace(id=f"c-{image}", remove=lambda force=False: None)

    def _archive(self, container_id: str, path: str):
        return [home_tar(self._image(container_id[2:]).home)], {}

    def first_mount(self, volume: str, image: str, created: str = "t1") -> Path:
        """A new home volume gets the image's home, as Docker copies it on the first mount."""
        self.volumes[volume] = created
        folder = self.folder(volume)
        for path, data in self._image(image).home.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(data)
        return folder

    def folder(self, volume: str) -> Path:
        path = self.root / "volumes" / volume
        path.mkdir(parents=True, exist_ok=True)
        return path


class FolderHome:
    """workshop/homes.Home's interface over a folder standing for the volume."""

    def __init__(self, client: Engine, volume: str, image: str, labels: dict):
        self.root = client.folder(volume)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def snapshot(self, folder: str, paths):
        return snapshot_dir(self.root / folder, paths)

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.root / rel)

    def write(self, folder: str, files) -> None:
        for path, data, executable in files:
            out = self.root / folder / path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)


@pytest.fixture
def engine(tmp_path) -> Engine:
    return Engine(tmp_path)


@pytest.fixture
def files(engine, tmp_path, monkeypatch) -> HomeFiles:
    monkeypatch.setattr(HomeFiles, "home_access", FolderHome)
    return HomeFiles(engine, tmp_path / "state", INSTANCE, USER, {"localhub.test": "1"})


COMMIT_1 = {"README.md": "# project\n", "data.csv": "x\n1\n", "analysis.py": "print(1)\n", ".bashrc": "# bash\n"}
COMMIT_2 = {**COMMIT_1, "data.csv": "x\n1\n2\n", "analysis.py": "print(2)\n", "new.txt": "new in commit two\n"}


def launched(engine: Engine, files: HomeFiles, server: str = "proj") -> Path:
    engine.add_image("env:1", A, COMMIT_1)
    engine.add_image("env:2", B, COMMIT_2)
    return engine.first_mount(files.volume(server), "env:1")


def test_a_newer_commit_adds_updates_and_keeps_the_users_edit(engine, files):
    home = launched(engine, files)
    (home / "analysis.py").write_text("print('my edit')\n")
    (home / "notes.txt").write_text("mine\n")

    outcome = files.before_start("proj", "env:2", B, came_from="env:1")

    assert (home / "new.txt").read_text() == "new in commit two\n"  # new file added
    assert (home / "data.csv").read_text() == "x\n1\n2\n"  # untouched file updated
    assert (home / "analysis.py").read_text() == "print('my edit')\n"  # the edit kept
    assert (home / "analysis.bbbbbbb.py").read_text() == "print(2)\n"  # the commit's version beside it
    assert (home / "notes.txt").read_text() == "mine\n"  # a file of the user's own never looked at
    assert outcome.changed and outcome.commit == B
    assert outcome.message == (
        "Files of commit bbbbbbb brought into the home: 1 new file (new.txt), 1 updated (data.csv), 1 file kept "
        "with your edits: analysis.py (edited by you and changed in the newer copy; the commit's version is in "
        "analysis.bbbbbbb.py).")
    assert outcome.to_dict()["files"]["conflicts"] == [
        {"path": "analysis.py", "reason": "edited by you and changed in the newer copy", "beside": "analysis.bbbbbbb.py"}]


def test_untouched_is_judged_against_what_was_brought_in_last(engine, files):
    home = launched(engine, files)
    (home / "analysis.py").write_text("print('my edit')\n")
    files.before_start("proj", "env:2", B, came_from="env:1")
    assert files.before_start("proj", "env:2", B, came_from="env:2") is None  # the home holds this image already

    engine.add_image("env:3", C, {**COMMIT_2, "data.csv": "x\n3\n", "analysis.py": "print(3)\n"})
    outcome = files.before_start("proj", "env:3", C, came_from="env:2")
    # data.csv as commit two gave it counts as untouched; the user's analysis.py is named again, its new version
    # beside it; the earlier beside-copy stays as it was
    assert (home / "data.csv").read_text() == "x\n3\n"
    assert (home / "analysis.py").read_text() == "print('my edit')\n"
    assert (home / "analysis.ccccccc.py").read_text() == "print(3)\n"
    assert (home / "analysis.bbbbbbb.py").read_text() == "print(2)\n"
    assert [d.path for d in outcome.plan.conflicts] == ["analysis.py"]


def test_without_a_record_the_home_came_from_the_image_the_server_last_ran(engine, files):
    home = launched(engine, files)
    outcome = files.before_start("proj", "env:2", B, came_from="env:1")
    # nothing was edited: no conflict, analysis.py simply updated
    assert outcome.plan.conflicts == [] and (home / "analysis.py").read_text() == "print(2)\n"


def test_when_the_old_image_is_gone_every_differing_file_counts_as_the_users(engine, files):
    home = launched(engine, files)
    del engine.stored["env:1"]
    outcome = files.before_start("proj", "env:2", B, came_from="env:1")
    assert (home / "analysis.py").read_text() == "print(1)\n" and (home / "data.csv").read_text() == "x\n1\n"
    assert {d.path for d in outcome.plan.conflicts} == {"analysis.py", "data.csv"}
    assert (home / "new.txt").exists()


def test_a_home_made_again_under_the_same_name_does_not_inherit_the_old_record(engine, files):
    home = launched(engine, files)
    files.before_start("proj", "env:2", B, came_from="env:1")
    volume = files.volume("proj")
    assert files.records.get(volume, "t1")["image_id"] == "sha256:env:2"
    assert files.records.get(volume, "t2") is None  # deleted and created again: another creation time


def test_a_new_home_is_left_to_docker(engine, files):
    engine.add_image("env:1", A, COMMIT_1)
    assert files.before_start("fresh", "env:1", A, came_from=None) is None
    assert engine.created == []  # not even read


def test_a_failure_is_one_sentence_and_the_launch_goes_on(engine, files):
    launched(engine, files)
    outcome = files.before_start("proj", "env:gone", B, came_from="env:1")
    assert outcome.plan is None and not outcome.changed
    assert outcome.message.startswith("The files of commit bbbbbbb could not be brought into the home (")
    assert "`localhub servers sync proj` tries again." in outcome.message and "\n" not in outcome.message


def test_sync_on_demand_restores_a_deleted_file_and_then_has_nothing_to_do(engine, files):
    home = launched(engine, files)
    (home / "README.md").unlink()
    outcome = files.sync("proj", "env:1")
    assert (home / "README.md").read_text() == "# project\n"
    assert outcome.message == ("Files of commit aaaaaaa brought into the home: 1 restored (you had deleted it) "
                               "(README.md).")
    again = files.sync("proj", "env:1")
    assert not again.changed and again.message == "The home already holds the files of commit aaaaaaa."


def test_the_image_home_brings_regular_files_only(tmp_path):
    link = tarfile.TarInfo("jovyan/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    escape = tarfile.TarInfo("jovyan/../../outside.txt")
    fifo = tarfile.TarInfo("jovyan/pipe")
    fifo.type = tarfile.FIFOTYPE
    data = home_tar({"ok.txt": b"fine", ".git/config": b"[core]", "sub/.git/HEAD": b"ref"}, [link, escape, fifo])
    home = unpack_home([data[:100], data[100:]], tmp_path / "x")
    assert snapshot_dir(home).keys() == {"ok.txt"}
    assert not (tmp_path / "outside.txt").exists()


@pytest.mark.parametrize("resolved, label", [(A, "aaaaaaa"), ("v1.2", "v1.2"), ("", "newer"),
                                             ("../x/\x1b[31m", "x31m"), ("10.5281/zenodo.1", "10.5281zenodo.1")])
def test_the_beside_copies_carry_a_short_safe_commit_name(resolved, label):
    assert commit_label(resolved) == label


def test_long_reports_name_five_files_and_count_the_rest():
    from localhub.workshop.merge import plan_merge, Entry
    newer = {f"f{i}.txt": Entry("file", str(i)) for i in range(8)}
    text = describe(plan_merge({}, newer, {}), "")
    assert text == ("Files of the environment brought into the home: 8 new files (f0.txt, f1.txt, f2.txt, f3.txt, "
                    "f4.txt and 3 more).")


def test_records_are_private_and_survive_damage(tmp_path):
    records = HomeRecords(tmp_path)
    records.put("vol", "t1", "img", "sha256:x", A, {})
    path = next((tmp_path / "homes").glob("*.json"))
    assert path.stat().st_mode & 0o077 == 0
    path.write_text("{not json")
    assert records.get("vol", "t1") is None


# --- localhub servers sync NAME: the daemon's answers ---------------------------------------------------------

@pytest.fixture
def daemon(tmp_path, engine, files) -> FakeDaemon:
    d = FakeDaemon(tmp_path)
    d.launcher = SimpleNamespace(**vars(d.launcher), server_lock=lambda name: asyncio.Lock(), home_files=files)
    return d


async def test_sync_answers_in_one_sentence(daemon, engine, files, monkeypatch):
    home = launched(engine, files, "proj")
    # a launch moved the server to commit two, but could not reach its home then: sync tries again
    with monkeypatch.context() as busy:
        busy.setattr(FolderHome, "__enter__", lambda self: (_ for _ in ()).throw(LocalhubError("engine busy")))
        assert "could not be brought" in files.before_start("proj", "env:2", B, came_from="env:1").message
    daemon.hub.add("proj", ready=True, image="env:2", resolved=B)
    daemon.hub.add("idle", ready=False, image="env:1")
    (home / "analysis.py").write_text("mine\n")
    async with serve(daemon, monkeypatch) as http:
        done = await http.post("/servers/proj/sync")
        assert done.status_code == 200, done.text
        assert done.json()["changed"] and "1 new file (new.txt)" in done.json()["message"]
        assert (home / "analysis.py").read_text() == "mine\n"
        again = await http.post("/servers/proj/sync")
        assert not again.json()["changed"]
        assert again.json()["message"] == ("The home already holds the files of commit bbbbbbb (your edits to "
                                           "analysis.py are kept).")
        for name, status, sentence in (
                ("nope", 404, "There is no server 'nope'; `localhub servers ls` lists yours."),
                ("%1B%5B31m", 404, "There is no server '\\x1b[31m'"),
                ("idle", 409, "Server 'idle' is stopped: start it (`localhub servers start idle`")):
            r = await http.post(f"/servers/{name}/sync")
            assert r.status_code == status and r.json()["message"].startswith(sentence), r.text


def test_a_home_read_in_one_pass_is_seen_as_a_folder_walk_sees_it(tmp_path):
    """snapshot_of_archive (the engine's archive of a home, streamed) answers as merge.snapshot_dir does: the
    wanted paths, and a file or link where one of their folders should be."""
    from localhub.workshop.homes import snapshot_of_archive

    home = tmp_path / "jovyan"
    (home / "sub" / "deeper").mkdir(parents=True)
    (home / "a.txt").write_text("a")
    (home / "run.sh").write_text("#!/bin/sh\n")
    (home / "run.sh").chmod(0o755)
    (home / "sub" / "deeper" / "b.txt").write_text("b")
    (home / "blocked").write_text("a file where the commit has a folder")
    (home / "folder-here").mkdir()
    (home / "link").symlink_to("/etc/passwd")
    (home / "big.bin").write_bytes(os.urandom(3 << 20))  # not wanted: streamed past, never hashed
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(home, arcname="jovyan")
    data = buf.getvalue()
    paths = {"a.txt", "run.sh", "sub/deeper/b.txt", "blocked/inside.txt", "folder-here", "link", "missing.txt",
             "sub/missing/c.txt"}
    chunks = [data[i:i + 7000] for i in range(0, len(data), 7000)]
    assert snapshot_of_archive(chunks, paths) == snapshot_dir(home, paths)
    assert snapshot_of_archive(chunks, paths)["run.sh"].executable
