"""The hub's state directory: where each file lives, that it is private, and the runtime record.

The state dir is private: directories 0700, files 0600. This module is the one owner of files' modes: `prepare`
creates the layout private and tightens what an older localhub left readable; the daemon runs with
`PRIVATE_UMASK` (and so does JupyterHub, its child), so every file either of them creates is private too; the
helpers here create files 0600 from the start.

Layout (all under one directory, so several hubs can run side by side):
    jupyterhub.sqlite          JupyterHub's database (users, named servers, their options)
    jupyterhub_cookie_secret   0600
    secrets/api-token          0600; the token the CLI and TUI use to talk to the hub
    secrets/proxy-token        0600; shared by the hub and its proxy
    secrets/service-token      0600; the daemon's own service token
    login/                     one-time login tokens (hashed)
    logs/                      hub.log, daemon.log
    builds/                    build logs, one per image
    runtime.json               what the running daemon resolved at start (url, pids, network)
    daemon.lock                held by the running daemon (lifecycle.py)
    .localhub-state            marks the folder as a state dir: a folder of other files is never made one
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import LocalhubError, shown

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PRIVATE_UMASK = 0o077  # what the daemon and JupyterHub create: rwx for the user, nothing for anyone else
MARKER = ".localhub-state"  # says a folder is a localhub state dir (only such a folder's modes are changed)
MARKER_TEXT = "This folder is a localhub hub's state directory (see `localhub status --state-dir`).\n"
# what localhub itself puts at the top of a state dir (some commands write before any `up` marks it)
OWN_NAMES = frozenset({"jupyterhub.sqlite", "jupyterhub_cookie_secret", "secrets", "login", "logs", "builds",
                       "runtime.json", "daemon.lock", "proxy.pid", "hub.pid", "launches.json", "resolved.json",
                       "pool", "workshop", "homes", MARKER})


def _own_name(name: str) -> bool:
    """One of localhub's files, a damaged database it set aside, or a file being written (write_atomic's)."""
    return name in OWN_NAMES or name == ".write-test" or name.startswith("jupyterhub.sqlite.") or name.endswith(".tmp")


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "jupyterhub.sqlite"

    @property
    def cookie_secret(self) -> Path:
        return self.root / "jupyterhub_cookie_secret"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    @property
    def login_tokens(self) -> Path:
        return self.root / "login"

    @property
    def runtime_file(self) -> Path:
        return self.root / "runtime.json"

    @property
    def proxy_pid_file(self) -> Path:
        return self.root / "proxy.pid"

    @property
    def hub_pid_file(self) -> Path:
        return self.root / "hub.pid"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def prepare(self) -> None:
        """Create the layout, private; fail with one sentence if the directory cannot be written, is not the
        user's, or already holds files that are not localhub's (their modes are never touched)."""
        self.claim()
        try:
            self.root.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            for d in (self.secrets, self.login_tokens, self.logs, self.builds):
                d.mkdir(mode=PRIVATE_DIR, exist_ok=True)
            make_private(self.root)
            if not self.marker.exists():
                write_atomic(self.marker, MARKER_TEXT)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as err:
            raise LocalhubError(
                f"The state directory {self.root} is not writable ({err.strerror}); "
                "choose another with --state-dir or fix its permissions."
            ) from None
        secret_file(self.cookie_secret, nbytes=32, hex_format=True)

    def claim(self) -> None:
        """Refuse a directory localhub must not make its own: another user's, or a folder of other files (a home,
        a project: making it private would take every permission of group and others from all it holds)."""
        try:
            st = self.root.stat()
        except OSError:
            return  # not there yet, or not reachable: creating it says why it cannot be
        if not stat.S_ISDIR(st.st_mode):
            raise LocalhubError(f"The state directory {self.root} is not a folder; choose another with --state-dir.")
        if st.st_uid != os.geteuid():
            raise LocalhubError(f"The state directory {self.root} belongs to another user; localhub keeps its state "
                                "only in a folder of your own: choose one with --state-dir.")
        if self.marker.exists():
            return
        try:
            others = sorted(p.name for p in self.root.iterdir() if not _own_name(p.name))
        except OSError as err:  # a folder of one's own made unreadable (chmod 000)
            raise LocalhubError(f"The state directory {self.root} cannot be read ({err.strerror}); give it back its "
                                "permissions (chmod 700) or choose another with --state-dir.") from None
        if others:
            raise LocalhubError(f"The folder {self.root} already holds other files ({shown(others[0])}"
                                f"{f' and {len(others) - 1} more' if len(others) > 1 else ''}); localhub keeps its "
                                "state in a folder of its own: choose a new or empty one with --state-dir.")

    def open_log(self, name: str):
        """A log file of logs/ opened for appending, created 0600 (for a child process's output)."""
        return os.fdopen(os.open(self.logs / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE), "ab")

    def secret(self, name: str) -> str:
        return secret_file(self.secrets / name)

    def read_runtime(self) -> dict | None:
        try:
            return json.loads(self.runtime_file.read_text())
        except (OSError, ValueError):
            return None

    def write_runtime(self, data: dict) -> None:
        write_atomic(self.runtime_file, json.dumps(data, indent=2))

    def clear_runtime(self) -> None:
        self.runtime_file.unlink(missing_ok=True)


def secret_file(path: Path, nbytes: int = 32, hex_format: bool = True) -> str:
    """Read a secret, creating it (0600, never world-readable even briefly) when missing or empty: an empty
    secret is no secret (a disk that filled up, a hand edit), and every process reads it afresh at start."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if not value:
        value = secrets.token_hex(nbytes) if hex_format else secrets.token_urlsafe(nbytes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)  # before anything is written, should an empty file have been readable
        with os.fdopen(fd, "w") as f:
            f.write(value)
    os.chmod(path, PRIVATE_FILE)
    return value


def write_atomic(path: Path, text: str, mode: int = PRIVATE_FILE) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def make_private(root: Path) -> None:
    """Take away every permission of group and others under `root` (a state dir an older localhub made 0755
    with 0644 files, or one the user loosened). Symbolic links are left alone."""
    for path in [root, *root.rglob("*")]:
        try:
            st = path.lstat()
            if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
        except OSError:
            continue  # gone meanwhile (a build's checkout), or not ours to change
