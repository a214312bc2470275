"""A newer commit's files reach the home of a server that already runs an older one, by nbgitpuller's rules, on
the real engine and hub (home_files.py): its new file appears, a file the user never touched is updated, and a
file the user edited keeps the edit, the commit's version put beside it and the conflict named in the launch's
output. `localhub servers sync NAME` does the same on demand.

The repository is a local git repository launched by its `file://` link (a Dockerfile FROM
localhub/singleuser:test that copies it into the image's home, as repo2docker images hold a repository)."""

from __future__ import annotations

import json

import pytest

from tests.support.binder import CaseRepo, delete_server, read_build, remove_images_under, server_containers

pytestmark = pytest.mark.docker

ANALYSIS_1 = "print('commit one')\n"
ANALYSIS_2 = "print('commit two')\n"
MY_EDIT = "print('my own analysis')\n"


@pytest.fixture
def repo(hub, tmp_path):
    repo = CaseRepo("dockerfile-basic", tmp_path, "home-files")
    repo.commit("data and analysis", {"data.csv": "x\n1\n", "analysis.py": ANALYSIS_1})
    yield repo
    delete_server(hub, "home-files")
    remove_images_under(tmp_path)


def launch(hub, repo) -> tuple[dict, list[str]]:
    stream = read_build(hub.url, repo.spec(), hub.token)
    assert stream.last.get("phase") == "ready", stream.describe()
    return stream.last, [m.strip() for m in stream.messages("launching")]


def home(hub, server: str):
    (container,) = server_containers(hub, server, running_only=True)

    def run(*cmd: str) -> str:
        result = container.exec_run(list(cmd), user="1000")
        assert result.exit_code == 0, result.output
        return result.output.decode()

    return run


def test_a_newer_commit_brings_its_files_and_keeps_the_users_edit(hub, repo):
    one, said = launch(hub, repo)
    server = one["server"]
    assert not any("brought into the home" in m for m in said), said  # a new home gets the files from Docker
    run = home(hub, server)
    assert run("cat", "analysis.py") == ANALYSIS_1
    run("sh", "-c", f"printf %s \"{MY_EDIT}\" > analysis.py")

    sha = repo.commit("commit two", {"new.txt": "new in commit two\n", "data.csv": "x\n1\n2\n",
                                     "analysis.py": ANALYSIS_2})
    two, said = launch(hub, repo)
    assert two["server"] == server
    run = home(hub, server)  # the restarted server's container
    assert run("cat", "new.txt") == "new in commit two\n"  # the new file appears
    assert run("cat", "data.csv") == "x\n1\n2\n"  # the untouched file is updated
    assert run("cat", "analysis.py") == MY_EDIT  # the edit is kept
    beside = f"analysis.{sha[:7]}.py"
    assert run("cat", beside) == ANALYSIS_2  # with the commit's version beside it
    assert run("stat", "-c", "%u", "new.txt").strip() == "1000"  # the user's own files
    (report,) = [m for m in said if "brought into the home" in m]
    assert report.startswith(f"Files of commit {sha[:7]} brought into the home: 1 new file (new.txt), ")
    assert "updated (" in report and "data.csv" in report
    assert (f"1 file kept with your edits: analysis.py (edited by you and changed in the newer copy; the commit's "
            f"version is in {beside})") in report

    # the same commit again while it runs: nothing to bring in, nothing said
    _, said = launch(hub, repo)
    assert not any("brought into the home" in m for m in said), said

    # on demand: a file deleted by mistake comes back; the edit stays; then nothing to do
    run("rm", "README.md")
    done = json.loads(hub.cli("servers", "sync", server, "--json").stdout)
    assert done["changed"] and done["files"]["restore"] == 1 and done["commit"] == sha
    assert "README.md" in run("ls") and run("cat", "analysis.py") == MY_EDIT
    again = hub.cli("servers", "sync", server).stdout.strip()
    assert again == f"The home already holds the files of commit {sha[:7]} (your edits to analysis.py are kept)."


def test_sync_refuses_in_one_sentence_and_a_plain_server_has_nothing_to_do(hub, repo):
    for name, sentence in (("no-such-server", "There is no server 'no-such-server'"),
                           ("\x1b[31mred", "There is no server '\\x1b[31mred'")):
        proc = hub.cli("servers", "sync", name, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().startswith(f"localhub: {sentence}") and len(proc.stderr.strip().splitlines()) == 1
    one, _ = launch(hub, repo)
    hub.client.stop_server(one["server"])
    proc = hub.cli("servers", "sync", one["server"], check=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"Server '{one['server']}' is stopped: start it" in proc.stderr

    hub.cli("servers", "new", "plain-home")
    try:
        said = hub.cli("servers", "sync", "plain-home").stdout.strip()
        assert said == "The home already holds the files of the environment.", said
    finally:
        delete_server(hub, "plain-home")
