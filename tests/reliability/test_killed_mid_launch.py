"""kill -9 of the daemon or of JupyterHub at each phase of a launch (resolve, build, spawn), then `up`, as a
crash or an OOM kill would do it (issue 10's reliability suite). Afterwards: no process of the hub outside the
new daemon's tree, no container nobody knows, no temporary image, no home lost, no server stuck pending — and the
same link launches again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import docker
import pytest

from localhub.images.catalog import BUILDING_REPOSITORY
from localhub.lifecycle import pid_alive

pytestmark = [pytest.mark.reliability, pytest.mark.docker, pytest.mark.xdist_group("killed-launch")]  # one hub, one worker

CASES = Path(__file__).resolve().parents[1] / "cases"
PHASES = {  # the launch event at which the victim is killed, and the case launched
    "resolve": ("waiting", "dockerfile-basic"),
    "build": ("building", "dockerfile-slow"),
    "spawn": ("launching", "dockerfile-basic"),
}


@pytest.fixture(scope="module")
def khub(hub_factory, tmp_path_factory):
    hub = hub_factory.start("killed-launch")
    hub.cli("servers", "new", "keep")
    (container,) = [c for c in hub.containers(all=False) if c.name.endswith("--keep")]
    assert container.exec_run(["sh", "-c", "echo mine > ~/kept.txt"]).exit_code == 0
    hub.cases = tmp_path_factory.mktemp("cases")
    for _, case in PHASES.values():
        if not (hub.cases / case).exists():
            shutil.copytree(CASES / case, hub.cases / case, ignore=shutil.ignore_patterns("expect.toml"))
    yield hub
    hub_factory.close(hub)  # its servers first: their images are in use until then
    with closing(docker.from_env()) as engine:
        for image in engine.images.list(all=True, filters={"label": f"localhub.instance={hub.instance}"}):
            engine.images.remove(image.id, force=True)


def runtime(hub) -> dict:
    return json.loads((hub.state_dir / "runtime.json").read_text())


def launch_until(hub, case: str, phase: str) -> subprocess.Popen:
    """`localhub launch CASE --json`, returned once the launch has reached `phase`."""
    proc = subprocess.Popen([sys.executable, "-m", "localhub", "launch", str(hub.cases / case), "--json"],
                            env=hub.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:
        event = json.loads(line)
        seen.append(event["phase"])
        if event["phase"] == phase and (phase != "building" or "sleeping" in event.get("message", "")):
            return proc
    raise AssertionError(f"the launch ended before {phase}: {seen} {proc.stderr.read()}")


def wait_dead(pids, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids):
        assert time.monotonic() < deadline, f"still alive: {[p for p in pids if pid_alive(p)]}"
        time.sleep(0.2)


def processes_of(state_dir: Path) -> dict[int, int]:
    """{pid: parent pid} of every process working for this state dir (by its environment or working dir)."""
    marker = f"LOCALHUB_STATE_DIR={state_dir}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or not pid_alive(int(entry)):
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                ours = marker in f.read().split(b"\0")
            ours = ours or os.readlink(f"/proc/{entry}/cwd") == str(state_dir)
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ours:
            found[int(entry)] = parent
    return found


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                continue
    tree, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            tree.add(child)
            todo.append(child)
    return tree


def settled_servers(hub, timeout: float = 90) -> dict:
    """The servers once none is pending (a pending one that never settles fails the test)."""
    deadline = time.monotonic() + timeout
    while True:
        servers = {s["name"]: s for s in json.loads(hub.cli("servers", "ls", "--json").stdout)}
        pending = [n for n, s in servers.items() if s["status"] not in ("running", "stopped")]
        if not pending:
            return servers
        assert time.monotonic() < deadline, f"stuck pending: {pending}"
        time.sleep(1)


@pytest.mark.parametrize("victim", ["daemon", "jupyterhub", "both"])  # both: as an OOM killer or a crash may
@pytest.mark.parametrize("phase", list(PHASES))
def test_killed_mid_launch_then_up_leaves_nothing_behind(khub, phase, victim):
    event, case = PHASES[phase]
    for server in json.loads(khub.cli("servers", "ls", "--json").stdout):  # so that the launch really spawns
        if server["name"] != "keep":
            khub.cli("servers", "delete", server["name"], "--yes")
    with closing(docker.from_env()) as engine:
        homes_before = {v.name for v in engine.volumes.list(filters={"label": f"localhub.instance={khub.instance}"})}
    before = runtime(khub)
    launch = launch_until(khub, case, event)
    for pid in {"daemon": [before["daemon_pid"]], "jupyterhub": [before["hub_pid"]],
                "both": [before["daemon_pid"], before["hub_pid"]]}[victim]:
        os.kill(pid, signal.SIGKILL)
    # the daemon notices a JupyterHub's death and stops by itself; JupyterHub does not outlive its daemon
    wait_dead([before["daemon_pid"], before["hub_pid"]])
    # nor the proxy its JupyterHub (killed with SIGKILL too, it was left serving): nothing behind `status`'s back
    wait_dead(list(processes_of(khub.state_dir)))
    status = khub.cli("status", check=False)
    assert status.returncode == 3 and "No localhub is running" in status.stdout and "JupyterHub" not in status.stdout
    assert launch.wait(60) != 0

    khub.up()  # at once: a dead daemon's lock may outlive its pid for a moment (its last threads ending)
    after = runtime(khub)
    assert after["daemon_pid"] != before["daemon_pid"]
    servers = settled_servers(khub)

    stray = {pid for pid in processes_of(khub.state_dir) if pid not in descendants(after["daemon_pid"])}
    assert not stray, "left running: " + ", ".join(
        open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")[:120] for p in stray)
    with closing(docker.from_env()) as engine:
        label = {"label": f"localhub.instance={khub.instance}"}
        temporary = [t for i in engine.images.list(all=True, filters=label) for t in i.tags
                     if t.startswith(BUILDING_REPOSITORY + "/")]
        assert not temporary, f"temporary images left: {temporary}"
        assert homes_before <= {v.name for v in engine.volumes.list(filters=label)}, "a home was lost"
        running = engine.containers.list(filters=label)
        server_containers = {c.name for c in running if "localhub.role" not in c.labels
                             and servers.get(c.labels.get("localhub.server"), {}).get("status") == "running"}
        # a server's container, or its storage meter (storage_watch.py); short-lived probes are not counted
        unknown = [c.name for c in running if c.name not in server_containers and not (
            c.labels.get("localhub.role") == "meter" and c.labels.get("localhub.meters") in server_containers)
            and c.labels.get("localhub.role") not in ("probe", "survey")]
        assert not unknown, f"containers no running server owns: {unknown}"
    (keep,) = [c for c in khub.containers(all=False) if c.name.endswith("--keep")]
    assert keep.exec_run(["cat", "/home/jovyan/kept.txt"]).output.decode().strip() == "mine"

    if phase != "build":  # the same link launches again
        ready = json.loads(khub.cli("launch", str(khub.cases / case), "--json", timeout=600).stdout.splitlines()[-1])
        assert ready["phase"] == "ready"
