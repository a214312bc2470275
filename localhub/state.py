"""The hub's state directory: where each file lives, secrets created with 0600, and the runtime record.

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
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import LocalhubError


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

    def prepare(self) -> None:
        """Create the layout; fail with one sentence if the directory cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for d in (self.secrets, self.login_tokens):
                d.mkdir(mode=0o700, exist_ok=True)
                os.chmod(d, 0o700)
            self.logs.mkdir(exist_ok=True)
            self.builds.mkdir(exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as err:
            raise LocalhubError(
                f"The state directory {self.root} is not writable ({err.strerror}); "
                "choose another with --state-dir or fix its permissions."
            ) from None
        secret_file(self.cookie_secret, nbytes=32, hex_format=True)

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
    """Read a secret, creating it (0600, never world-readable even briefly) when missing."""
    if not path.exists():
        value = secrets.token_hex(nbytes) if hex_format else secrets.token_urlsafe(nbytes)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
    os.chmod(path, 0o600)
    return path.read_text().strip()


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
