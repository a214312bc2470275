"""Starting and stopping the daemon process, and knowing which process it is: the one owner of process identity.

A pid alone does not identify a process: a daemon killed with SIGKILL leaves runtime.json behind, and after a
while (or a reboot) its pid belongs to anything. So the daemon holds an exclusive lock on `daemon.lock` in its state
dir for its whole life (the kernel drops it the moment the process dies, however it dies), and runtime.json records
its pid with the process's start time. A daemon runs only while the lock is held; a pid is signalled only when the
process with that pid started when the record says. JupyterHub and its proxy, which the daemon starts, are
recognised by their working directory, the state dir; JupyterHub never outlives its daemon, nor the proxy its JupyterHub,
however they die (`die_with_parent`), so a daemon killed with SIGKILL leaves nothing serving behind `status`'s back.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import Settings
from .errors import LocalhubError
from .state import StateDir

START_TIMEOUT = 120
STOP_TIMEOUT = 60
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


# --- processes ---------------------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of /proc/PID/stat (after the command name, which may hold spaces and parentheses)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int | None) -> bool:
    """True if the process runs. A killed process whose parent has not reaped it yet (a zombie) counts
    as dead: signalling it still succeeds, which would make a crashed daemon look alive."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc (not Linux): trust the signal
    return fields[0] not in ("Z", "X")


def process_start(pid: int | None) -> int | None:
    """When the process started (clock ticks since boot; None if it does not run): with the pid, its identity."""
    fields = _stat_fields(pid) if pid else None
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_process(pid: int | None, started: int | None) -> bool:
    """True if `pid` is still the process that started at `started` (not a later one given the same pid)."""
    return pid_alive(pid) and started is not None and process_start(pid) == started


def runs_in(pid: int | None, directory: Path) -> bool:
    """True if the process runs with `directory` as its working directory (JupyterHub and its proxy run in the
    state dir): a pid file left by a killed hub is not trusted on its own."""
    if not pid_alive(pid):
        return False
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == directory.resolve()
    except OSError:
        return False


def die_with_parent(parent: int, on_parent_gone=None) -> None:
    """Have the kernel send this process SIGTERM when `parent` (the process that started it) dies, however it
    dies — and act now if it is already gone. `on_parent_gone` is called in that case (default: exit)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the request was made
        (on_parent_gone or (lambda: sys.exit(f"localhub: the process that started this one (pid {parent}) is gone")))()


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_leftover(pid_file: Path, state: StateDir, wait: float = 0) -> bool:
    """Stop the process a pid file of this state dir names if it is still ours (it runs in the state dir: a
    JupyterHub or proxy left by a daemon that died), waiting up to `wait` s for it to go (then SIGKILL).
    True if there was one."""
    pid = read_pid(pid_file)
    if not runs_in(pid, state.root):
        return False  # gone, or the pid was reused by something else
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if wait and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    return True


def leftover_hub(state: StateDir) -> int | None:
    """The pid of a JupyterHub still serving for this state dir while no daemon runs (it stops by itself within
    moments of its daemon's death), else None."""
    pid = read_pid(state.hub_pid_file)
    return pid if runs_in(pid, state.root) else None


# --- the daemon's lock ---------------------------------------------------------------------------------------
class DaemonLock:
    """The lock the running daemon holds on `<state dir>/daemon.lock` for its whole life; the file says who holds
    it (pid and start time), so the holder can be found even when runtime.json is gone (a daemon starting, or
    one that hangs while stopping)."""

    def __init__(self, state: StateDir):
        self.path = state.root / "daemon.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        # a client asking `holder()` holds a shared lock for an instant; a daemon that has just died keeps the lock
        # until its last thread has gone (its pid may already be a zombie): wait those out, not a living daemon
        deadline = time.monotonic() + 1
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    recorded = self._recorded(fd)
                    if is_process(recorded.get("daemon_pid"), recorded.get("daemon_start")) or \
                            time.monotonic() > deadline + 10:
                        os.close(fd)
                        raise LocalhubError(f"Another localhub is already running or starting for "
                                            f"{self.path.parent} (`localhub status` says which).") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(daemon_identity()).encode(), 0)
        self._fd = fd

    @staticmethod
    def _recorded(fd: int) -> dict:
        try:
            identity = json.loads(os.pread(fd, 200, 0) or b"null")
        except ValueError:
            return {}
        return identity if isinstance(identity, dict) else {}

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def holder(self) -> dict | None:
        """{"daemon_pid", "daemon_start"} of the process holding the lock, None when nobody holds it."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except PermissionError:  # another user's hub: not "not running", which would be a wrong answer
            raise LocalhubError(f"The state directory {self.path.parent} is not yours to read (another user's?); "
                                "localhub answers for a hub of your own: choose its folder with --state-dir.") from None
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return None  # nobody holds it
            except BlockingIOError:
                pass
            identity = self._recorded(fd)
        finally:
            os.close(fd)
        if is_process(identity.get("daemon_pid"), identity.get("daemon_start")):
            return identity
        # held by a daemon that has not said who it is yet, or one whose last threads are still ending
        return {"daemon_pid": None, "daemon_start": None}


def daemon_identity() -> dict:
    """What the daemon records about itself (in daemon.lock and runtime.json)."""
    return {"daemon_pid": os.getpid(), "daemon_start": process_start(os.getpid())}


def running_daemon(state: StateDir) -> dict | None:
    """The runtime record of the daemon that owns this state dir, if it runs: its lock is held and the record
    was written by the lock's holder."""
    holder = DaemonLock(state).holder()
    if not holder or not holder["daemon_pid"]:
        return None
    runtime = state.read_runtime()
    if runtime and (runtime.get("daemon_pid"), runtime.get("daemon_start")) == \
            (holder["daemon_pid"], holder["daemon_start"]):
        return runtime
    return None


def start_detached(settings: Settings, state: StateDir) -> None:
    """Run `localhub up` in a new session with its output in logs/daemon.log; return once the hub is ready."""
    state.prepare()
    argv = [sys.executable, "-m", "localhub", "up", "--state-dir", str(settings.state_dir),
            "--port", str(settings.port), "--ip", settings.ip]
    log_path = state.logs / "daemon.log"
    with state.open_log("daemon.log") as log:
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
    holder = DaemonLock(state).holder()
    if not holder:
        state.clear_runtime()  # left by a daemon that was killed
        hub = stop_leftover(state.hub_pid_file, state, wait=20)  # its JupyterHub, if it is still ending
        proxy = stop_leftover(state.proxy_pid_file, state)
        return hub or proxy
    pid, started = holder["daemon_pid"], holder["daemon_start"]
    if not pid:
        return False
    try:
        if running_daemon(state) is None:
            raise LocalhubError("the daemon is starting or stopping: its API is not there")
        ask_daemon(keep_servers)
    except LocalhubError:
        if is_process(pid, started):
            os.kill(pid, signal.SIGTERM)  # API unreachable: the signal stops servers and hub too
    deadline = time.monotonic() + STOP_TIMEOUT
    while is_process(pid, started) and time.monotonic() < deadline:
        time.sleep(0.2)
    if is_process(pid, started):
        raise LocalhubError(f"localhub (pid {pid}) did not stop within {STOP_TIMEOUT} s; "
                            f"see {state.logs / 'hub.log'}.")
    return True


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].removeprefix("localhub: ") if lines else ""
