"""A desktop of a simulated lab: a network namespace with its own Docker engine and its own localhub, driven
through the real `localhub` command inside the namespace. Used by the pool's LAN tests and by
scripts/bench_pool.py, which need the same desks with the same settings.

The settings make the pool quick to observe: a desktop counts as idle one second after its owner's last
input, any load counts as light, a paused guest is stopped after 4 s, a silent peer is lost after 30 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.lan.engines import NamespaceEngine
from tests.lan.netns import REPO, Lan

IMAGE = "localhub/singleuser:test"
PORT = 8765  # each hub's port inside its own namespace


class CommandFailed(Exception):
    """A command in a desk failed: one sentence; the end of its stderr is attached as a note."""


class Desk:
    def __init__(self, lan: Lan, name: str, root: Path, role: str | None = None, sync_every: float = 8,
                 grace: int = 4):
        self.name, self.lan, self.host = name, lan, lan.add_host(name)
        self.engine = NamespaceEngine(self.host, root, role=role or name)
        lan.engines.append(self.engine)  # Lan.close() stops it before the namespaces go
        self.sync_every, self.grace = sync_every, grace
        self.config = root / f"{name}-config"
        self.config.mkdir(exist_ok=True)
        self.logs = self.host.state_dir / "logs"
        self.node = ""
        self.settings: dict[str, str] = {}  # more LOCALHUB_* settings, read at the next `up`

    @property
    def env(self) -> dict:
        return {**os.environ, "PYTHONUNBUFFERED": "1", "DOCKER_HOST": self.engine.docker_host,
                "LOCALHUB_STATE_DIR": str(self.host.state_dir), "LOCALHUB_CONFIG_DIR": str(self.config),
                "LOCALHUB_IMAGE": IMAGE, "LOCALHUB_POOL_ADDRESS": self.host.address,
                "LOCALHUB_POOL_IDLE_AFTER": "1", "LOCALHUB_POOL_START_LOAD": "1000",
                "LOCALHUB_POOL_BUSY_LOAD": "1000", "LOCALHUB_POOL_GRACE": str(self.grace),
                "LOCALHUB_POOL_LOST_AFTER": "30",
                "LOCALHUB_POOL_SYNC_EVERY": str(self.sync_every), **self.settings}

    def run(self, *args: str, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
        """`python ARGS` inside the desk's namespace."""
        done = subprocess.run(["ip", "netns", "exec", self.host.ns, sys.executable, *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            failed = CommandFailed(f"`{' '.join(args)}` on the {self.name} failed: "
                                   f"{said[-1] if said else f'exit {done.returncode}'}")
            failed.add_note(done.stderr[-2000:])
            raise failed
        return done

    def localhub(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run("-m", "localhub", *args, **kwargs)

    def up(self) -> None:
        self.localhub("up", "--detach", "--port", str(PORT))

    def down(self) -> None:
        self.localhub("down", timeout=120, check=False)

    def servers(self) -> dict:
        return {s["name"]: s for s in json.loads(self.localhub("servers", "ls", "--json").stdout)}

    def guests(self) -> list:
        """Guest containers on this desk's engine (servers other desks run here)."""
        return self.engine.client.containers.list(all=True, filters={"label": "localhub.pool=guest"},
                                                ignore_removed=True)  # one being forgotten as we look

    def kernel(self, server: str, *sources: str) -> list[dict]:
        """Run code in a new kernel of `server`, through this hub's proxy (from inside the namespace)."""
        code = ("import json, sys; from localhub.client import Client; from tests.support.binder import run_in_kernel;"
                "c = Client(__import__('pathlib').Path(sys.argv[1]));"
                f"base = c.url + '/user/' + c.user + '/{server}';"
                "token = (c.state.secrets / 'api-token').read_text().strip();"
                "print(json.dumps(run_in_kernel(base, token, json.loads(sys.argv[2]))))")
        out = self.run("-c", code, str(self.host.state_dir), json.dumps(list(sources)))
        return json.loads(out.stdout)

    def node_id(self) -> str:
        from localhub.pool.trust.keys import node_id

        return node_id(self.host.state_dir)

    def daemon_pid(self) -> int:
        return json.loads((self.host.state_dir / "runtime.json").read_text())["daemon_pid"]

    def log_text(self, name: str) -> str:
        try:
            return (self.logs / name).read_text(errors="replace")
        except OSError:
            return ""
