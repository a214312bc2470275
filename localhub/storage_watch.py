"""Home volumes: how much each holds, measured in the background, and their caps held — so that no server
can fill the host's disk, and nothing on the launch path walks every volume on the machine.

Two modes, whichever the engine allows (`mode()`, shown by `localhub doctor` and `/info`):

- **enforced**: the engine's volumes live on a filesystem with project quotas (XFS mounted with `pquota`):
  Docker's local driver then takes a `size` option, and a home volume is created with its profile's cap.
  The kernel refuses writes past it ("Disk quota exceeded").
- **watched** (everywhere else: ext4, overlay2, btrfs…): a small *meter* runs beside each running server —
  localhub's own base image, the server's home mounted read-only, no network, no capability but reading
  every file, a fifth of a CPU — and prints its usage (allocated blocks, `du`) and the disk's free space every
  2 s, five times a second near the cap, and at once when the disk's free space drops fast (a cheap check
  fifty times a second). The daemon follows each meter's output as it comes. A server past its cap plus a margin is frozen at once (`docker pause`: no more writes),
  killed (a graceful stop would let the writer go on), and stopped in JupyterHub, with a notice saying why
  and what to delete. So is the server whose home grows fastest when the disk itself is about to run out.

Stopped servers' homes do not change: they are measured once when the daemon starts (one container with all
of them mounted) and their last measurement stands. `used(volume)` answers the start check and `servers ls`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import docker
import docker.errors
import requests

from .profiles import format_size
from .storage_caps import MiB, engine_has_quotas, low_disk_notice, margin, mode_text, over_cap_notice

log = logging.getLogger("localhub.storage_watch")

METER_IMAGES = ("localhub/base:latest", "localhub/base:test")
MIN_FREE = 1024 * MiB  # below this much free disk, the fastest-growing server is stopped
ROLE = "meter"

# argv[1]: the cap in KiB. Prints "used-KiB free-KiB unix-time" at least every 2 s (every 0.2 s near the
# cap), and at once whenever the disk's free space drops by 16 MiB: a cheap statvfs fifty times a second
# decides when the walk (du) is worth making, so a fast writer is seen within a tenth of a second (within
# a fiftieth past half its cap).
METER_SCRIPT = r"""
import os, subprocess, sys, time
cap, home = int(sys.argv[1]), "/home/jovyan"
def used():
    out = subprocess.run(["du", "-skx", home], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out and out[0].isdigit() else 0
def free():
    st = os.statvfs(home)
    return st.f_bavail * st.f_frsize // 1024
while True:
    size, left = used(), free()
    print(size, left, int(time.time()), flush=True)
    deadline = time.monotonic() + (0.2 if size * 10 > cap * 8 else 2.0)
    time.sleep(0.02 if size * 2 > cap else 0.1)  # at most ten walks a second, fifty past half the cap
    while time.monotonic() < deadline and left - free() < 16384:
        time.sleep(0.02)
"""

@dataclass
class Reading:
    used: int  # bytes
    free: int  # bytes free on the disk that holds it
    at: float


@dataclass
class Running:
    """A running server container this watch meters."""

    container: str  # name
    container_id: str
    volume: str
    user: str
    server: str
    cap: int
    quota: bool  # its volume carries an engine quota


class StorageWatch:
    """Usage per home volume and the caps of running servers, in one background thread."""

    def __init__(self, client: docker.DockerClient, instance: str, labels: dict, cap_of: Callable[[str], int | None],
                 stop_server: Callable[[str, str], None], tell: Callable[[str, str], None],
                 volume_name: Callable[[str, str], str], interval: float = 1.0):
        self._client = client
        self.instance = instance
        self._labels = labels
        self._cap_of = cap_of  # profile name -> storage cap in bytes
        self._stop_server = stop_server  # (user, server): ask JupyterHub to stop it (must not block long)
        self._tell = tell  # (container name, notice)
        self._volume_name = volume_name  # (user, server) -> home volume name
        self.interval = interval
        self.quotas = False
        self._usage: dict[str, Reading] = {}
        self._growth: dict[str, float] = {}  # volume -> bytes/s at the last two readings
        self._stopping: set[str] = set()
        self._following: set[str] = set()  # meter ids whose output a thread reads
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storage-watch", daemon=True)
        self.meter_image: str | None = None
        self._disk_halted = 0.0  # when a server was last stopped for the disk's sake

    # --- what others ask ----------------------------------------------------------------------------
    def used(self, volume: str) -> int | None:
        with self._lock:
            reading = self._usage.get(volume)
        return reading.used if reading else None

    def usage(self) -> dict[str, int]:
        with self._lock:
            return {volume: r.used for volume, r in self._usage.items()}

    def mode(self) -> tuple[str, str]:
        return ("enforced" if self.quotas else "watched", mode_text(self.quotas))

    # --- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self.quotas = engine_has_quotas(self._client.api, self._labels)
        self.meter_image = self._find_meter_image()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop, and remove the meters of servers that no longer run. Those of servers left running (a
        restart) keep measuring, and the next daemon takes them over."""
        self.stop()
        self._thread.join(10)
        try:
            running = self._running()
            for name, meter in self._meters().items():
                if name not in running:
                    self._remove(meter)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            pass

    def _find_meter_image(self) -> str | None:
        for image in METER_IMAGES:
            try:
                self._client.images.get(image)
                return image
            except docker.errors.ImageNotFound:
                continue
            except docker.errors.DockerException:
                break
        log.warning("no localhub base image (%s) to measure homes with: storage caps are checked only at start",
                    " or ".join(METER_IMAGES))
        return None

    def _run(self) -> None:
        try:
            self.survey()
        except Exception:
            log.exception("measuring the homes at start failed")
        while not self._stop.is_set():
            try:
                self.round()
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                pass  # the engine is busy or restarting: the next round tries again
            except Exception:
                log.exception("the storage watch failed a round; trying again")
            self._stop.wait(self.interval)

    # --- measuring ----------------------------------------------------------------------------------
    def survey(self) -> None:
        """Measure every home of this hub once, in one short-lived container (stopped servers' homes do not
        change afterwards; running ones get a meter)."""
        if not self.meter_image:
            return
        volumes = [v.name for v in self._client.volumes.list(filters={"label": f"localhub.instance={self.instance}"})
                   if (v.attrs.get("Labels") or {}).get("localhub.role") is None]
        if not volumes:
            return
        mounts = {name: {"bind": f"/v/{i}", "mode": "ro"} for i, name in enumerate(volumes)}
        output = self._client.containers.run(
            self.meter_image, ["sh", "-c", "cd /v && du -skx -- *"], volumes=mounts, remove=True,
            labels={**self._labels, "localhub.instance": self.instance, "localhub.role": "survey"},
            **_confined())
        now = time.time()
        with self._lock:
            for line in output.decode().splitlines():
                size, _, index = line.partition("\t")
                if size.isdigit() and index.isdigit() and int(index) < len(volumes):
                    self._usage.setdefault(volumes[int(index)], Reading(int(size) * 1024, 0, now))

    def round(self, follow: bool = True) -> None:
        """One look: meters follow the running servers, and each meter's output is read as it comes (by a
        thread per meter; with `follow` False, its last line now)."""
        running = self._running()
        meters = self._meters()
        for name, meter in meters.items():
            if name not in running:
                self._remove(meter)
        for name, server in running.items():
            meter = meters.get(name)
            if meter is None:
                self._start_meter(server)
            elif meter.get("State") != "running":
                self._remove(meter)  # made again next round
            elif not follow:
                self._reading(server, self._last_line(meter["Id"]))
            elif meter["Id"] not in self._following:
                self._following.add(meter["Id"])
                threading.Thread(target=self._follow, args=(meter["Id"], server), daemon=True,
                                 name=f"meter-{server.container}").start()
        with self._lock:
            self._hold_disk(running)

    def _follow(self, meter_id: str, server: Running) -> None:
        """Read a meter's lines until it goes (its server stopped)."""
        pending = b""
        try:
            for chunk in self._client.api.logs(meter_id, stream=True, follow=True, tail=1, stdout=True,
                                               stderr=False):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._reading(server, line.decode(errors="replace"))
                if self._stop.is_set():
                    return
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            pass
        finally:
            self._following.discard(meter_id)

    def _reading(self, server: Running, line: str) -> None:
        fields = line.split()
        if len(fields) != 3 or not all(f.isdigit() for f in fields):
            return
        reading = Reading(int(fields[0]) * 1024, int(fields[1]) * 1024, float(fields[2]))
        with self._lock:
            before = self._usage.get(server.volume)
            self._record(server.volume, reading)
            self._hold(server, reading, reading.used - before.used if before else 0)

    def _record(self, volume: str, reading: Reading) -> None:
        with self._lock:
            before = self._usage.get(volume)
            if before and reading.at > before.at:
                self._growth[volume] = (reading.used - before.used) / (reading.at - before.at)
            self._usage[volume] = reading

    def _running(self) -> dict[str, Running]:
        found = {}
        for c in self._client.api.containers(filters={"label": [f"localhub.instance={self.instance}",
                                                                "localhub.server"], "status": "running"}):
            labels = c.get("Labels") or {}
            if labels.get("localhub.role"):
                continue
            cap = self._cap_of(labels.get("localhub.profile", ""))
            if not cap:
                continue
            user, server = labels.get("localhub.user", ""), labels.get("localhub.server", "")
            volume = self._volume_name(user, server)
            name = c["Names"][0].lstrip("/")
            quota = any(m.get("Name") == volume and m.get("Driver") == "local" and self._has_quota(volume)
                        for m in c.get("Mounts") or [])
            found[name] = Running(name, c["Id"], volume, user, server, cap, quota)
        return found

    def _has_quota(self, volume: str) -> bool:
        if not self.quotas:
            return False
        try:
            options = self._client.api.inspect_volume(volume).get("Options") or {}
        except docker.errors.DockerException:
            return False
        return "size" in options

    def _meters(self) -> dict[str, dict]:
        meters = {}
        for c in self._client.api.containers(all=True, filters={"label": [f"localhub.instance={self.instance}",
                                                                          f"localhub.role={ROLE}"]}):
            meters[(c.get("Labels") or {}).get("localhub.meters", "")] = c
        return meters

    def _start_meter(self, server: Running) -> None:
        if not self.meter_image:
            return
        try:
            self._client.containers.run(
                self.meter_image, ["python3", "-c", METER_SCRIPT, str(server.cap // 1024)], detach=True,
                name=f"{server.container}.meter",  # '.' is never in a server's container name
                volumes={server.volume: {"bind": "/home/jovyan", "mode": "ro"}},
                labels={**self._labels, "localhub.instance": self.instance, "localhub.role": ROLE,
                        "localhub.meters": server.container},
                log_config=docker.types.LogConfig(type="json-file", config={"max-size": "64k", "max-file": "1"}),
                **_confined())
        except docker.errors.APIError as err:
            if err.status_code != 409:  # 409: made meanwhile
                log.warning("could not start the storage meter of %s: %s", server.container, err)

    def _last_line(self, meter_id: str) -> str:
        try:
            return self._client.api.logs(meter_id, tail=1, stdout=True, stderr=False).decode().strip()
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return ""

    def _remove(self, meter: dict) -> None:
        try:
            self._client.api.remove_container(meter["Id"], force=True)
        except docker.errors.DockerException:
            pass

    # --- holding the caps ---------------------------------------------------------------------------
    def _hold(self, server: Running, reading: Reading, step: int) -> None:
        """Stop a server past its cap plus the margin — or already past its cap and growing so fast that the
        next reading (`step` more) would be past the margin: the freeze takes a moment to land."""
        if server.quota or reading.used <= server.cap:
            return
        if reading.used + max(step, 0) <= server.cap + margin(server.cap):
            return
        self._halt(server, over_cap_notice(reading.used, server.cap, time.time()),
                   f"its home holds {format_size(reading.used)}, past its {format_size(server.cap)} cap")

    def _hold_disk(self, running: dict[str, Running]) -> None:
        """Once a second: with the disk nearly full, stop the server whose home grows fastest (one at a time,
        a few seconds apart, so that what one stop frees is seen before the next)."""
        if time.monotonic() - self._disk_halted < 5:
            return
        with self._lock:
            readings = {s.container: (self._usage.get(s.volume), self._growth.get(s.volume, 0.0))
                        for s in running.values()}
        low = [(growth, name) for name, (r, growth) in readings.items() if r and r.free < MIN_FREE and growth > 0]
        if low:
            _, name = max(low)
            free = readings[name][0].free
            self._disk_halted = time.monotonic()
            self._halt(running[name], low_disk_notice(free, time.time()),
                       f"the disk has only {format_size(free)} left and its home grows fastest")

    def _halt(self, server: Running, notice: str, why: str) -> None:
        if server.container in self._stopping:
            return
        self._stopping.add(server.container)
        log.warning("stopping %s: %s", server.container, why)
        for action in ("pause", "kill"):  # no more writes at once; then gone (a graceful stop lets writers go on)
            try:
                getattr(self._client.api, action)(server.container_id)
            except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
                log.warning("could not %s %s: %s", action, server.container, err)
        self._tell(server.container, notice)
        try:
            self._stop_server(server.user, server.server)
        finally:
            threading.Timer(30, self._stopping.discard, (server.container,)).start()


def _confined() -> dict:
    """How a meter (or the survey) runs: reads homes, nothing else."""
    return {"network_mode": "none", "cap_drop": ["ALL"], "cap_add": ["DAC_READ_SEARCH"], "read_only": True,
            "security_opt": ["no-new-privileges:true"], "mem_limit": "64m", "pids_limit": 32, "user": "0",
            "cpu_quota": 20000, "cpu_period": 100000}


def stop_through(loop: asyncio.AbstractEventLoop, stop: Callable) -> Callable[[str, str], None]:
    """A blocking `stop_server(user, server)` for the watch's thread, run on the daemon's loop."""
    def stop_server(user: str, server: str) -> None:
        asyncio.run_coroutine_threadsafe(stop(user, server), loop)
    return stop_server
