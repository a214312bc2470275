"""A Docker engine of a simulated LAN host's own: a second (third…) `dockerd` started inside the host's
network namespace, so its containers, its docker0 bridge and its iptables rules all live on that host, and
a port it publishes on the host's LAN address (10.251.0.x) is reachable from the other hosts.

Why it is started the way it is:

- `ip netns exec` gives dockerd the host's network namespace *and* a private mount namespace with a sysfs of
  that network namespace. Every mount the engine makes (overlay roots, netns bind mounts) stays in that
  mount namespace and disappears with its last process: nothing to unmount in the root namespace. But
  `ip netns exec` also hides the cgroup hierarchies (they were mounted under the old /sys), so the launch
  script mounts them again on the new /sys before it execs dockerd.
- Each engine has its own exec root, and with it its own managed containerd (dockerd 20.10 starts one under
  `<exec-root>/containerd`, with its state there and its content under `<data-root>/containerd`), its own
  socket, pidfile and cgroup parent, and a containerd namespace named after its role.
- Data roots are cached under /var/lib/localhub-test/engines/<role> so an image loaded once stays for the
  next run. A lock file (`<role>.lock`, flock) lets one run at a time use a role; the others wait.
  The cache keeps images only: containers, volumes and networks are removed on start and on stop.
- Exec roots and sockets are per run: /run/lh-<pid>-<role>/ (unix socket paths must stay under 108 bytes).
- Whatever an interrupted run left of a role (a dockerd on its data root, containerd shims, container
  processes in its cgroup parent, shim sockets, exec roots) is killed and removed before the role is used
  again; dockerd also gets SIGTERM when the thread that started it dies (if that is the main thread: the
  signal follows the thread, not the process).

The engine of the root namespace (/var/run/docker.sock) is never touched, except to read an image from it
(`load_image`).
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import docker

from tests.lan.netns import Host

CACHE = Path("/var/lib/localhub-test/engines")
MAIN_ENGINE = "unix:///var/run/docker.sock"
SHIM_SOCKETS = Path("/run/containerd/s")  # where containerd 1.6 shims put their sockets, whatever the address
CGROUPS = Path("/sys/fs/cgroup")


class EngineError(RuntimeError):
    pass


def _live_processes() -> dict[int, str]:
    """pid → command line (space-joined) of every live process; zombies have none and are left out."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline:
                found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def _cgroup_mounts() -> str:
    """Shell lines mounting again, on the fresh /sys `ip netns exec` makes, the cgroup hierarchies of the root
    mount namespace (pid 1's: ours may be one `ip netns exec` made, without them)."""
    lines = []
    for line in Path("/proc/1/mounts").read_text().splitlines():
        source, target, fstype, options = line.split()[:4]
        if target.startswith(str(CGROUPS)) and fstype in ("tmpfs", "cgroup", "cgroup2"):
            lines.append(f"mkdir -p {target} && mount -t {fstype} -o {options} {source} {target}")
    return "\n".join(lines)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: kept across exec


class NamespaceEngine:
    """A dockerd in `host`'s network namespace; `root` gets its log. `role` (default: the host's name) picks
    the cached data root."""

    def __init__(self, host: Host, root: Path, role: str | None = None):
        self.host, self.role = host, role or host.name
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.role):
            raise ValueError(f"engine role {self.role!r}: use lowercase letters, digits and dashes")
        self.data_root = CACHE / self.role
        self.lock_path = CACHE / f"{self.role}.lock"
        self.pidfile = CACHE / f"{self.role}.pid"  # fixed, so the next run finds a dockerd this one left
        self.run_dir = Path(f"/run/lh-{os.getpid()}-{self.role}")  # exec root, socket, daemon.json
        self.socket = self.run_dir / "docker.sock"
        self.docker_host = f"unix://{self.socket}"
        self.cgroup_parent = f"localhub-test-{self.role}"
        self.containerd_namespace = f"localhub-test-{self.role}"
        self.log_path = Path(root) / f"dockerd-{self.role}.log"
        self.process: subprocess.Popen | None = None
        self.started_in: float | None = None  # seconds from launch to a first `info` answer
        self._client: docker.DockerClient | None = None
        self._lock = None

    def __repr__(self) -> str:
        return f"<NamespaceEngine {self.role} in {self.host.ns} at {self.socket}>"

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.docker_host, timeout=600)
        return self._client

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # --- start -----------------------------------------------------------------------------------------

    def start(self, timeout: float = 60, lock_timeout: float = 900) -> NamespaceEngine:
        """Start dockerd and wait until `info` answers; leftovers of earlier runs of this role go first.
        Waits up to `lock_timeout` s for another run using the same role to finish."""
        if self.running:
            return self
        CACHE.mkdir(parents=True, exist_ok=True)
        self._take_lock(lock_timeout)
        atexit.register(self.stop)
        try:
            self._sweep()
            self.run_dir.mkdir(mode=0o700)
            config = self.run_dir / "daemon.json"
            config.write_text("{}\n")  # not the machine's /etc/docker/daemon.json (hosts, data-root, …)
            args = ["dockerd", "--config-file", str(config), "--data-root", str(self.data_root),
                    "--exec-root", str(self.run_dir), "--pidfile", str(self.pidfile), "-H", self.docker_host,
                    "--cgroup-parent", f"/{self.cgroup_parent}",
                    "--containerd-namespace", self.containerd_namespace,
                    "--containerd-plugins-namespace", f"{self.containerd_namespace}-plugins",
                    "--storage-driver", "overlay2", "--log-level", "warn"]
            script = f"set -e\n{_cgroup_mounts()}\nexec {shlex.join(args)}\n"
            began = time.monotonic()
            with open(self.log_path, "ab") as log:
                log.write(f"--- {time.strftime('%H:%M:%S')} {shlex.join(args)}\n".encode())
                log.flush()
                # `ip netns exec` and sh exec in turn: self.process.pid is dockerd's pid
                self.process = subprocess.Popen(
                    ["ip", "netns", "exec", self.host.ns, "sh", "-c", script], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None)
            self._wait_ready(began + timeout)
            self.started_in = time.monotonic() - began
            self.clear()  # a crashed run's containers (and their restart policies) must not come back
        except BaseException:
            self.stop()
            raise
        return self

    def _take_lock(self, timeout: float) -> None:
        lock = open(self.lock_path, "a+")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.seek(0)
                    holder = lock.read().strip() or "?"
                    lock.close()
                    raise EngineError(f"the cached engine '{self.role}' ({self.data_root}) is still in use by "
                                      f"pid {holder} after {timeout:.0f} s") from None
                time.sleep(0.5)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock = lock

    def _wait_ready(self, deadline: float) -> None:
        while True:
            if self.process.poll() is not None:
                raise EngineError(f"dockerd of '{self.role}' in {self.host.ns} exited with "
                                  f"{self.process.returncode} before answering; {self.log_path}:\n{self.log_tail()}")
            try:
                root = self.client.info()["DockerRootDir"]
                break
            except docker.errors.DockerException:  # no socket yet, or it does not answer yet
                self._client = None
                if time.monotonic() > deadline:
                    raise EngineError(f"dockerd of '{self.role}' in {self.host.ns} did not answer at "
                                      f"{self.socket}; {self.log_path}:\n{self.log_tail()}") from None
                time.sleep(0.2)
        if root != str(self.data_root):  # someone else's engine on our socket path: never use it
            raise EngineError(f"the engine at {self.socket} has data root {root}, not {self.data_root}")

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- use -------------------------------------------------------------------------------------------

    def load_image(self, name: str) -> float:
        """Copy image `name` from the main engine (`docker save | docker load`, streamed, nothing on disk);
        skipped when this engine has an image of the same id under that name. Returns the seconds it took
        (0.0 when skipped)."""
        main = docker.DockerClient(base_url=MAIN_ENGINE, timeout=600)
        try:
            wanted = main.images.get(name).id
            try:
                if self.client.images.get(name).id == wanted:
                    return 0.0
            except docker.errors.ImageNotFound:
                pass
            began = time.monotonic()
            for line in self.client.api.load_image(main.api.get_image(name, chunk_size=1 << 20)):
                if isinstance(line, dict) and line.get("error"):
                    raise EngineError(f"loading {name} into the '{self.role}' engine: {line['error']}")
            got = self.client.images.get(name).id
            if got != wanted:
                raise EngineError(f"loaded {name} into the '{self.role}' engine as {got}, expected {wanted}")
            return time.monotonic() - began
        finally:
            main.close()

    def remove_image(self, name: str) -> None:
        try:
            self.client.images.remove(name, force=True)
        except docker.errors.ImageNotFound:
            pass

    def clear(self) -> None:
        """Remove every container, volume and user-made network of this test-only engine; images stay."""
        for container in self.client.containers.list(all=True, ignore_removed=True):
            container.remove(force=True, v=True)
        for volume in self.client.volumes.list():
            volume.remove(force=True)
        for network in self.client.networks.list():
            if network.name not in ("bridge", "host", "none"):
                network.remove()

    # --- stop ------------------------------------------------------------------------------------------

    def stop(self, timeout: float = 20) -> None:
        """Remove this engine's containers, stop dockerd (SIGTERM, then SIGKILL after `timeout` s), kill
        whatever of it is left (shims, container processes) and remove its exec root. Idempotent."""
        atexit.unregister(self.stop)
        if self.running:
            try:
                self.clear()
            except Exception:
                pass  # dockerd's own shutdown stops containers too, and the sweep kills what remains
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._lock is not None:
            try:
                self._sweep()
            finally:
                self._lock.close()  # releases the flock
                self._lock = None

    def _sweep(self) -> None:
        """Kill every process of this role and remove its exec roots, shim sockets and cgroups. Only called
        with the role's lock held, so nothing found belongs to a live run but (at stop) this one."""
        run_dirs = [p for p in Path("/run").glob(f"lh-*-{self.role}")
                    if re.fullmatch(rf"lh-\d+-{self.role}", p.name)]
        mine = re.compile(rf"(--data-root {re.escape(str(self.data_root))} |/run/lh-\d+-{self.role}/|"
                          rf"-namespace {self.containerd_namespace} )")
        # the pidfile names a dockerd left running; the scan also finds one whose pidfile is gone
        on_data_root = f"--data-root {self.data_root} "
        dockerds = [pid for pid, cmd in _live_processes().items()
                    if cmd.split()[0].endswith("dockerd") and on_data_root in cmd]
        try:
            stale = int(self.pidfile.read_text())
            if on_data_root not in Path(f"/proc/{stale}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                raise ValueError("pid reused")
            dockerds.append(stale)
        except (OSError, ValueError):
            pass
        self._kill(dockerds, signal.SIGTERM, wait=15)  # a live dockerd stops its containers itself
        for _ in range(20):
            victims = [pid for pid, cmd in _live_processes().items() if mine.search(cmd)] + self._cgroup_pids()
            if not victims:
                break
            self._kill(victims, signal.SIGKILL, wait=5)
        else:
            raise EngineError(f"processes of the '{self.role}' engine survive SIGKILL: {victims}")
        for run_dir in run_dirs:
            address = run_dir / "containerd" / "containerd.sock"
            for container in (self.data_root / "containers").glob("*"):
                key = f"{address}/{self.containerd_namespace}/{container.name}".encode()
                (SHIM_SOCKETS / hashlib.sha256(key).hexdigest()).unlink(missing_ok=True)
            shutil.rmtree(run_dir, ignore_errors=True)
        for top in self.cgroups():
            for group in sorted(top.glob("**/"), key=lambda p: -len(p.parts)):  # the deepest first
                try:
                    group.rmdir()
                except OSError:
                    pass
        self.pidfile.unlink(missing_ok=True)

    def processes(self) -> dict[int, str]:
        """pid → command line of every live process of this run's engine: dockerd, containerd, shims,
        docker-proxy, anything else in its host's network namespace, and its containers' processes."""
        netns = Path(f"/run/netns/{self.host.ns}")
        netns = netns.stat().st_ino if netns.exists() else None
        found = {}
        for pid, cmd in _live_processes().items():
            if str(self.run_dir) in cmd or f"-namespace {self.containerd_namespace} " in cmd or \
                    (netns is not None and _inode(f"/proc/{pid}/ns/net") == netns):
                found[pid] = cmd
        for pid in self._cgroup_pids():
            try:
                found.setdefault(pid, Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
        return found

    def cgroups(self) -> list[Path]:
        """This role's cgroup parent in every hierarchy (cgroup v1: one per controller; v2: one)."""
        return [p for p in [CGROUPS / self.cgroup_parent, *CGROUPS.glob(f"*/{self.cgroup_parent}")] if p.is_dir()]

    def _cgroup_pids(self) -> list[int]:
        pids = set()
        for procs in (p for top in self.cgroups() for p in top.glob("**/cgroup.procs")):
            try:
                pids.update(int(pid) for pid in procs.read_text().split())
            except OSError:
                pass
        return sorted(pids)

    @staticmethod
    def _kill(pids: list[int], sig: int, wait: float) -> None:
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
