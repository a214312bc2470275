"""A Docker engine of a simulated LAN host's own: a second `dockerd` started inside the host's network
namespace, so its containers, its docker0 bridge and its iptables rules all live on that host.

dockerd is entered into the namespace with `nsenter --net` rather than `ip netns exec`: the latter remounts
/sys for the namespace, which hides the cgroup mounts dockerd needs ("Devices cgroup isn't mounted").

Each engine has its own data root, exec root (its own managed containerd), pidfile and unix socket. Data
roots are kept between runs under /var/lib/localhub-test/engines/<role> so images loaded once stay loaded;
a lock file keeps two runs from sharing one, and a dockerd left by an interrupted run is killed first.
The engine of the root namespace is never touched, except to read an image from it (`load_image`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import docker

from tests.lan.netns import Host

CACHE = Path("/var/lib/localhub-test/engines")


class NamespaceEngine:
    def __init__(self, host: Host, root: Path, role: str):
        self.host, self.role = host, role
        self.data_root = CACHE / role
        self.run_dir = Path(f"/run/lh-{role}-{os.getpid() % 100000}")  # short: unix socket paths < 108 chars
        self.socket = self.run_dir / "docker.sock"
        self.log_path = Path(root) / f"dockerd-{role}.log"
        self.process: subprocess.Popen | None = None
        self._lock = None
        self._client: docker.DockerClient | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.docker_host, timeout=120)
        return self._client

    def start(self, timeout: float = 60) -> "NamespaceEngine":
        self.data_root.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.data_root.parent / f"{self.role}.lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another test run uses the cached engine '{self.role}' ({self.data_root})") from None
        self._kill_stale()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.data_root / "owner.pid").write_text(str(os.getpid()))
        self.process = subprocess.Popen(
            ["nsenter", f"--net=/var/run/netns/{self.host.ns}", "dockerd", "--data-root", str(self.data_root),
             "--exec-root", str(self.run_dir / "exec"), "--pidfile", str(self.run_dir / "dockerd.pid"),
             "-H", self.docker_host, "--cgroup-parent", f"/lh-{self.role}", "--log-level", "warn"],
            stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        (self.data_root / "dockerd.pid").write_text(str(self.process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd for {self.role} exited ({self.process.returncode}): {self.log_tail()}")
            try:
                if self.client.ping():
                    return self
            except Exception:
                time.sleep(0.3)
        raise RuntimeError(f"dockerd for {self.role} did not answer within {timeout:.0f} s: {self.log_tail()}")

    def _kill_stale(self) -> None:
        """A dockerd (and its containerd) left on this data root by an interrupted run."""
        try:
            pid = int((self.data_root / "dockerd.pid").read_text())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        if str(self.data_root).encode() in cmdline:
            os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
            time.sleep(1)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def load_image(self, name: str) -> float:
        """Copy an image from the root namespace's engine; skipped when this engine has the same id. Returns
        the seconds it took (0 when skipped)."""
        main = docker.from_env(timeout=600)
        try:
            wanted = main.images.get(name)
            try:
                if self.client.images.get(name).id == wanted.id:
                    return 0.0
            except docker.errors.ImageNotFound:
                pass
            began = time.monotonic()
            for line in self.client.api.load_image(main.api.get_image(name, chunk_size=1 << 20)):
                if isinstance(line, dict) and line.get("error"):
                    raise RuntimeError(f"loading {name} into the {self.role} engine: {line['error']}")
            return time.monotonic() - began
        finally:
            main.close()

    def remove_image(self, name: str) -> None:
        try:
            self.client.images.remove(name, force=True)
        except docker.errors.ImageNotFound:
            pass

    def clear(self) -> None:
        """Remove every container, volume and user network of this (test-only) engine; images stay."""
        for container in self.client.containers.list(all=True):
            container.remove(force=True)
        for volume in self.client.volumes.list():
            volume.remove(force=True)
        for network in self.client.networks.list():
            if network.name not in ("bridge", "host", "none"):
                network.remove()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                for container in self.client.containers.list():
                    container.kill()
            except Exception:
                pass
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self._client is not None:
            self._client.close()
        subprocess.run(["umount", "-R", str(self.run_dir / "exec")], capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        (self.data_root / "dockerd.pid").unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
