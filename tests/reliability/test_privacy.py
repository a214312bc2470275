"""Nobody else on the machine reads the hub's state, no log holds a secret, and a launch's token dies with the
server run it was made for (issue 10 item 9). Used as a stranger would: a fresh `up` in a state dir whose parent
anyone can enter, a second OS user trying to read it, tokens sent where they are refused."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import uuid
from contextlib import closing
from pathlib import Path

import docker
import httpx
import pytest

from tests.support.hubs import Hub, free_port_block

pytestmark = [pytest.mark.reliability, pytest.mark.docker, pytest.mark.xdist_group("privacy")]  # one hub, one worker

CASES = Path(__file__).resolve().parents[1] / "cases"
STRANGER = "localhub-stranger"


@pytest.fixture(scope="module")
def open_hub(hub_factory):
    """A hub whose state dir sits in a directory every user may enter (as ~/.local/share is on most desktops)."""
    root = Path("/tmp") / f"localhub-privacy-{uuid.uuid4().hex[:8]}"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    hub = Hub("privacy", root, free_port_block(start=23000))
    hub.write_config()
    hub_factory.hubs.append(hub)
    hub.sign_in_link = hub.up().stdout.split("sign in: ")[1].split()[0]
    yield hub
    hub_factory.close(hub)
    with closing(docker.from_env()) as engine:  # the environment built by the launches
        for image in engine.images.list(filters={"label": f"localhub.instance={hub.instance}"}):
            engine.images.remove(image.id, force=True)
    hub_factory.hubs.remove(hub)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stranger():
    """Another OS user of this machine."""
    try:
        pwd.getpwnam(STRANGER)
    except KeyError:
        if subprocess.run(["useradd", "--no-create-home", STRANGER], capture_output=True).returncode != 0:
            pytest.skip("cannot create a second OS user here (not root)")
    return STRANGER


def everything_under(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def test_the_state_dir_is_private(open_hub, stranger):
    state = open_hub.state_dir
    # a launch and a build log, so that every kind of file exists
    open_hub.cli("launch", str(CASES / "dockerfile-basic"), "--json", timeout=600)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    loose = []
    for path in everything_under(state):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            continue
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) & 0o077:
            loose.append(f"{path.relative_to(state)} {oct(stat.S_IMODE(st.st_mode))} (want {oct(want)})")
    assert not loose, "readable by others: " + ", ".join(loose)
    for target in ("logs/daemon.log", "jupyterhub.sqlite", "runtime.json", "logs/hub.log"):
        read = subprocess.run(["su", stranger, "-s", "/bin/sh", "-c", f"cat {state / target}"],
                              capture_output=True, text=True)
        assert read.returncode != 0 and "Permission denied" in read.stderr, target


def test_no_log_holds_a_secret_or_token(open_hub):
    canary = "canary" + uuid.uuid4().hex
    url = open_hub.url
    with httpx.Client(timeout=30) as http:
        for path in ("/hub/api/users", "/services/localhub/api/info", f"/user/{open_hub.user}/x/api/status",
                     "/build/gh/org/repo/HEAD", "/v2/gh/org/repo/HEAD", "/hub/login", "/services/localhub/"):
            http.get(f"{url}{path}?token={canary}")
            http.get(f"{url}{path}", headers={"Authorization": f"token {canary}"})
    link_token = open_hub.sign_in_link.split("token=")[1].split("&")[0]
    secrets = [canary, link_token, open_hub.token]
    secrets += [p.read_text().strip() for p in (open_hub.state_dir / "secrets").iterdir()]
    for path in everything_under(open_hub.state_dir):
        if path.is_file() and (path.suffix == ".log" or "logs" in path.parts or "builds" in path.parts):
            text = path.read_text(errors="replace")
            for secret in secrets:
                assert secret not in text, f"{path.relative_to(open_hub.state_dir)} holds a secret"


def test_a_launch_token_dies_with_its_server_run(open_hub):
    events = [json.loads(line) for line in open_hub.cli(
        "launch", str(CASES / "dockerfile-basic"), "--json", timeout=600).stdout.splitlines()]
    ready = events[-1]
    assert ready["phase"] == "ready" and ready["token"]
    status = f"{open_hub.url}/user/{open_hub.user}/{ready['server']}/api/status"
    with_token = {"Authorization": f"token {ready['token']}"}
    assert httpx.get(status, headers=with_token, timeout=30).status_code == 200

    open_hub.cli("servers", "stop", ready["server"])
    open_hub.cli("servers", "start", ready["server"])  # a later run of the same server
    assert httpx.get(status, headers=with_token, timeout=30).status_code == 403
    open_hub.cli("servers", "delete", ready["server"], "--yes")
