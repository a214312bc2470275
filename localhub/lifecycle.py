"""Starting and stopping the daemon process from the command line: is one running for this state dir, start
one in the background and wait until it is ready, stop it and wait until it is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import Settings
from .errors import LocalhubError
from .state import StateDir, pid_alive

START_TIMEOUT = 120
STOP_TIMEOUT = 60


def running_daemon(state: StateDir) -> dict | None:
    """The runtime record of the daemon that owns this state dir, if it is alive."""
    runtime = state.read_runtime()
    if runtime and pid_alive(runtime.get("daemon_pid")):
        return runtime
    return None


def start_detached(settings: Settings, state: StateDir) -> None:
    """Run `localhub up` in a new session with its output in logs/daemon.log; return once the hub is ready."""
    state.prepare()
    argv = [sys.executable, "-m", "localhub", "up", "--state-dir", str(settings.state_dir),
            "--port", str(settings.port), "--ip", settings.ip]
    log_path = state.logs / "daemon.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalhubError(_last_line(log_path) or f"localhub stopped during start-up; see {log_path}")
        runtime = state.read_runtime() or {}
        if runtime.get("ready") and runtime.get("daemon_pid") == proc.pid:
            return
        time.sleep(0.25)
    raise LocalhubError(f"localhub did not become ready within {START_TIMEOUT} s; see {log_path}")


def stop(state: StateDir, keep_servers: bool, ask_daemon) -> bool:
    """Stop the daemon of this state dir (through its API when it answers, else by signal); False when none
    was running."""
    runtime = state.read_runtime()
    if not runtime or not pid_alive(runtime.get("daemon_pid")):
        state.clear_runtime()
        return False
    pid = runtime["daemon_pid"]
    try:
        ask_daemon(keep_servers)
    except LocalhubError:
        os.kill(pid, signal.SIGTERM)  # API unreachable: the signal stops servers and hub too
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        raise LocalhubError(f"localhub (pid {pid}) did not stop within {STOP_TIMEOUT} s; "
                            f"see {state.logs / 'hub.log'}.")
    return True


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].removeprefix("localhub: ") if lines else ""
