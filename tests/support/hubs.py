"""Start real localhub daemons for tests, each with its own state dir, config dir and ports.

Everything a test hub creates carries the label `localhub.test=1` (set in its config.toml) and its
instance label; `close` stops the hub and removes every container, volume and network of its instance.
"""

from __future__ import annotations

from contextlib import closing

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import docker

from localhub.client import Client

TEST_LABEL = {"localhub.test": "1"}


def free_port_block(size: int = 3, start: int = 21000) -> int:
    """A port P such that P..P+size-1 are free on 127.0.0.1."""
    port = start + (os.getpid() % 200) * 10
    for _ in range(2000):
        if all(_free(port + i) for i in range(size)):
            return port
        port += size
    raise RuntimeError("no free block of ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def localhub(*args: str, env: dict | None = None, timeout: float = 240, check: bool = True,
             input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "localhub", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"localhub {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Hub:
    name: str
    root: Path
    port: int
    settings: dict = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def env(self) -> dict:
        return {**os.environ, "LOCALHUB_CONFIG_DIR": str(self.config_dir), "LOCALHUB_STATE_DIR": str(self.state_dir)}

    def write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        lines = [f"{k} = {json.dumps(v)}" for k, v in self.settings.items()]
        lines.append("labels = { " + ", ".join(f'"{k}" = "{v}"' for k, v in TEST_LABEL.items()) + " }")
        (self.config_dir / "config.toml").write_text("\n".join(lines) + "\n")

    def cli(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return localhub(*args, env=self.env, **kwargs)

    def up(self) -> subprocess.CompletedProcess:
        return self.cli("up", "--detach", "--port", str(self.port))

    def down(self) -> None:
        self.cli("down", check=False, timeout=120)

    @property
    def client(self) -> Client:
        return Client(self.state_dir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.state_dir / "secrets" / "api-token").read_text().strip()

    @property
    def instance(self) -> str:
        from localhub.config import load_settings

        return load_settings(state_dir=self.state_dir).instance

    @property
    def user(self) -> str:
        return json.loads((self.state_dir / "runtime.json").read_text())["user"]

    def containers(self, all: bool = True, helpers: bool = False):
        """The hub's server containers (with `helpers`, also its storage meters and the like)."""
        with closing(docker.from_env()) as client:
            found = client.containers.list(all=all, filters={"label": f"localhub.instance={self.instance}"},
                                           ignore_removed=True)  # a storage meter may end while listed
        return found if helpers else [c for c in found if "localhub.role" not in c.labels]

    def remove_docker_objects(self) -> None:
        label = f"localhub.instance={self.instance}"
        with closing(docker.from_env()) as client:
            for _ in range(3):  # a storage meter may start while the first round removes the rest
                for c in client.containers.list(all=True, filters={"label": label}, ignore_removed=True):
                    try:
                        c.remove(force=True)
                    except docker.errors.NotFound:
                        pass
            for v in client.volumes.list(filters={"label": label}):
                v.remove(force=True)
            for n in client.networks.list(filters={"label": label}):
                n.remove()


class HubFactory:
    def __init__(self, root: Path):
        self.root = root
        self.hubs: list[Hub] = []

    def create(self, name: str, **settings) -> Hub:
        port = free_port_block(start=21000 + 50 * len(self.hubs))
        hub = Hub(name, self.root / name, port, settings)
        hub.write_config()
        self.hubs.append(hub)
        return hub

    def start(self, name: str, **settings) -> Hub:
        hub = self.create(name, **settings)
        hub.up()
        return hub

    def close(self, hub: Hub) -> None:
        hub.down()
        # a hub killed by a test and never restarted leaves its proxy running
        try:
            os.kill(int((hub.state_dir / "proxy.pid").read_text()), 15)
        except (OSError, ValueError):
            pass
        hub.remove_docker_objects()

    def close_all(self) -> None:
        for hub in self.hubs:
            self.close(hub)
