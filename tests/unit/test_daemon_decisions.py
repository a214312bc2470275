"""The daemon's decisions without an engine (daemon.py): which ports it refuses, which leftover processes it stops
(only its own, known by their working directory), how it reads JupyterHub's last words and its exit."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest

from localhub.config import Settings
from localhub.daemon import Daemon, last_error_line
from localhub.preflight import check_ports, port_problem
from localhub.lifecycle import stop_leftover
from localhub.errors import LocalhubError
from localhub.state import StateDir

pytestmark = pytest.mark.unit


def test_a_taken_port_is_named_in_one_sentence():
    settings = replace(Settings(), port=9000)
    taken = {("127.0.0.1", 9002)}
    with pytest.raises(LocalhubError, match=r"^Port 9002 \(for localhub's API\) is already in use"):
        check_ports(settings, orphan_proxy=False,
                    problem_of=lambda ip, port: "is already in use by another program" if (ip, port) in taken else None)


def test_a_privileged_or_foreign_port_is_named_for_what_it_is():
    """`up --port 80` as an ordinary user said "already in use" (a stranger found it)."""
    assert port_problem("127.0.0.1", 0) is None
    assert "not an address of this machine" in port_problem("192.0.2.1", 0)  # TEST-NET: never local
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        assert port_problem("127.0.0.1", held.getsockname()[1]) == "is already in use by another program"
    # as a user who may not open privileged ports (root without CAP_NET_BIND_SERVICE is one)
    unprivileged = subprocess.run(
        (["setpriv", "--bounding-set", "-net_bind_service"] if os.geteuid() == 0 else []) + [sys.executable, "-c",
         "from localhub.preflight import port_problem; print(port_problem('127.0.0.1', 80))"],
        capture_output=True, text=True, timeout=60)
    assert unprivileged.stdout.strip() == "is a privileged port (below 1024), which only root may open", unprivileged.stderr


def test_the_ports_of_a_leftover_proxy_of_this_hub_are_not_refused():
    settings = replace(Settings(), port=9000)
    held_by_our_old_proxy = lambda ip, port: "is in use" if port in (9000, 9001) else None  # noqa: E731
    check_ports(settings, orphan_proxy=True, problem_of=held_by_our_old_proxy)
    with pytest.raises(LocalhubError, match="Port 9000"):
        check_ports(settings, orphan_proxy=False, problem_of=held_by_our_old_proxy)


@pytest.fixture
def state(tmp_path) -> StateDir:
    state = StateDir(tmp_path / "state")
    state.prepare()
    return state


@pytest.fixture
def processes():
    started = []

    def start(cwd) -> subprocess.Popen:
        started.append(subprocess.Popen(["sleep", "60"], cwd=cwd))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("pid_file", ["hub.pid", "proxy.pid"])
def test_only_a_leftover_of_this_hub_is_stopped(state, processes, tmp_path, pid_file):
    stranger = processes(tmp_path)  # the pid file names it, but it runs elsewhere: the pid was reused
    (state.root / pid_file).write_text(str(stranger.pid))
    assert not stop_leftover(state.root / pid_file, state)
    assert stranger.poll() is None
    ours = processes(state.root)
    (state.root / pid_file).write_text(str(ours.pid))
    assert stop_leftover(state.root / pid_file, state)
    assert ours.wait(30) == -15


def test_jupyterhubs_last_error_is_what_start_up_failure_shows(tmp_path):
    log = tmp_path / "hub.log"
    log.write_text("[I 12:00 JupyterHub app:1] Starting\n[E 12:00 JupyterHub app:2] Cannot assign requested "
                   "address\n[I 12:00 JupyterHub app:3] Cleaning up\n")
    assert "Cannot assign requested address" in last_error_line(log)
    assert last_error_line(tmp_path / "missing.log") == "no log"


async def test_the_hubs_exit_is_seen_even_while_its_output_pipe_stays_open():
    """A killed JupyterHub leaves its proxy holding its output pipe: the exit code is enough."""
    proc = SimpleNamespace(returncode=None)
    daemon = Daemon.__new__(Daemon)
    daemon.hub_process = proc
    waiting = asyncio.create_task(daemon._hub_exited())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    proc.returncode = -9
    assert await asyncio.wait_for(waiting, 5) == -9


def test_the_daemon_refuses_a_second_start_for_the_same_state_dir(state, tmp_path):
    code = ("from pathlib import Path; from localhub.lifecycle import DaemonLock; from localhub.state import StateDir;"
            f"l = DaemonLock(StateDir(Path({str(state.root)!r}))); l.acquire(); print('held', flush=True);"
            "import time; time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LocalhubError, match="already running or starting"):
            Daemon(replace(Settings(), state_dir=state.root, config_dir=tmp_path))
    finally:
        holder.kill()
        holder.wait()
