"""Which process is the daemon: a lock it holds and its start time, never a pid alone (lifecycle.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from localhub.errors import LocalhubError
from localhub.lifecycle import DaemonLock, is_process, process_start, running_daemon, stop
from localhub.state import StateDir

pytestmark = pytest.mark.unit


@pytest.fixture
def state(tmp_path) -> StateDir:
    state = StateDir(tmp_path / "state")
    state.prepare()
    return state


@pytest.fixture
def bystander():
    """An unrelated process that happens to have the pid a dead daemon's runtime.json names."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def unable_to_reach_the_daemon(keep_servers: bool) -> None:
    raise LocalhubError("the daemon's API does not answer")


def test_a_stale_record_whose_pid_was_reused_is_not_a_running_daemon(state, bystander):
    state.write_runtime({"daemon_pid": bystander.pid, "url": "http://127.0.0.1:1", "ready": True})
    assert running_daemon(state) is None
    assert stop(state, keep_servers=False, ask_daemon=unable_to_reach_the_daemon) is False
    time.sleep(0.2)
    assert bystander.poll() is None, "`down` signalled an unrelated process"
    assert state.read_runtime() is None  # the stale record is cleared


@pytest.fixture
def fake_daemon():
    started = []

    def start(state: StateDir) -> subprocess.Popen:
        started.append(_fake_daemon(state))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def _fake_daemon(state: StateDir) -> subprocess.Popen:
    """A process that does what the daemon does to be known: takes the lock, writes its identity, then runs."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from localhub.lifecycle import DaemonLock, daemon_identity
        from localhub.state import StateDir
        state = StateDir(Path({str(state.root)!r}))
        lock = DaemonLock(state)
        lock.acquire()
        state.write_runtime({{**daemon_identity(), "url": "http://127.0.0.1:1", "ready": True}})
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while running_daemon(state) is None:
        assert proc.poll() is None and time.monotonic() < deadline, "the fake daemon did not start"
        time.sleep(0.05)
    return proc


def test_the_daemon_is_known_by_its_lock_and_stopped_by_signal(state, fake_daemon):
    proc = fake_daemon(state)
    runtime = running_daemon(state)
    assert runtime["daemon_pid"] == proc.pid and is_process(proc.pid, runtime["daemon_start"])
    with pytest.raises(LocalhubError, match="already running"):
        DaemonLock(state).acquire()  # a second daemon for the same state dir refuses to start
    assert stop(state, keep_servers=False, ask_daemon=unable_to_reach_the_daemon) is True
    assert proc.wait(5) == -15


def test_the_lock_holder_is_stopped_never_the_process_a_record_names(state, bystander, fake_daemon):
    daemon = fake_daemon(state)
    # a record naming another process (the same pid started later, or a record from elsewhere)
    state.write_runtime({"daemon_pid": bystander.pid, "daemon_start": process_start(bystander.pid)})
    assert running_daemon(state) is None
    assert stop(state, keep_servers=False, ask_daemon=unable_to_reach_the_daemon) is True
    assert daemon.wait(5) == -15 and bystander.poll() is None


def test_a_daemon_that_hangs_after_clearing_its_record_can_still_be_stopped(state, fake_daemon):
    daemon = fake_daemon(state)
    state.clear_runtime()  # as a daemon does at the end of its shutdown, before the process has ended
    assert running_daemon(state) is None
    assert stop(state, keep_servers=False, ask_daemon=unable_to_reach_the_daemon) is True
    assert daemon.wait(5) == -15


def test_a_killed_daemon_is_not_running_at_once(state, fake_daemon):
    proc = fake_daemon(state)
    proc.kill()
    proc.wait()
    assert running_daemon(state) is None  # its record is still there, but the kernel dropped its lock
    assert state.read_runtime()["daemon_pid"] == proc.pid


def test_down_leaves_an_unrelated_process_alone(state, bystander):
    state.write_runtime({"daemon_pid": bystander.pid, "url": "http://127.0.0.1:1", "ready": True,
                         "settings": {"port": 1}})
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(state.root.parent)}
    for command in (["down"], ["status", "--json"]):
        proc = subprocess.run([sys.executable, "-m", "localhub", *command, "--state-dir", str(state.root)],
                              capture_output=True, text=True, env=env, timeout=60)
        assert "Traceback" not in proc.stderr
        if command == ["down"]:
            assert proc.returncode == 0 and "not running" in proc.stdout
        else:
            assert json.loads(proc.stdout)["running"] is False
    assert bystander.poll() is None


def test_down_stops_a_hub_its_killed_daemon_left_serving(state):
    """A JupyterHub left by a daemon killed before hubs died with their daemon (or one still ending): `down`
    stops it and says so; before, it said "not running" and left it serving."""
    leftover = subprocess.Popen(["sleep", "60"], cwd=state.root)  # runs in the state dir, as a hub does
    state.hub_pid_file.write_text(str(leftover.pid))
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(state.root.parent)}
    try:
        status = subprocess.run([sys.executable, "-m", "localhub", "status", "--state-dir", str(state.root)],
                                capture_output=True, text=True, env=env, timeout=60)
        assert status.returncode == 3 and f"JupyterHub (pid {leftover.pid})" in status.stdout
        assert stop(state, keep_servers=False, ask_daemon=unable_to_reach_the_daemon) is True
        assert leftover.wait(30) == -15
    finally:
        leftover.kill()
        leftover.wait()


def test_a_child_dies_with_its_parent_however_the_parent_dies(tmp_path):
    """die_with_parent: the kernel ends the child when its parent is killed with SIGKILL (JupyterHub's
    process does this with its daemon's pid), and a child whose parent is already gone ends at once."""
    child = textwrap.dedent("""
        import os, sys, time
        from localhub.lifecycle import die_with_parent
        die_with_parent(int(sys.argv[1]))
        print(os.getpid(), flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {child!r}, str(os.getpid())])
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while is_process(child_pid, process_start(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_start(child_pid) is None, "the child outlived its killed parent"
    orphan = subprocess.run([sys.executable, "-c", child, "1"], capture_output=True, text=True, timeout=30)
    assert orphan.returncode != 0 and "is gone" in orphan.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a folder to another user (root only)")
@pytest.mark.parametrize("command", ["status", "down", "recover"])
def test_another_users_state_dir_is_said_to_be_theirs_not_idle(tmp_path, command):
    """A stranger found: `status` said "No localhub is running" for another user's running hub, and `down` and
    `recover` failed with an unexpected PermissionError. Run as root without the capabilities that read through
    permissions, as an ordinary user is."""
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    done = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-m",
                           "localhub", command, "--state-dir", str(theirs)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "LOCALHUB_CONFIG_DIR": str(tmp_path)})
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "is not yours to read" in done.stderr and "Traceback" not in done.stderr
