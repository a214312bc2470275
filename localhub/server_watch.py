"""What happens to this hub's servers that their user must be told, kept as one notice per server container.

A process killed by the kernel at a server's memory limit does not stop the server: Jupyter restarts the
kernel empty and nothing says why. The engine announces it (`oom` event); this watch turns it into
"out of memory: the kernel killed …", naming the process when it can — from the kernel's log when the daemon
may read it, else from the server's process list as last seen (taken every few seconds). The notice stays
until the server starts again. The storage watch (storage_watch.py) adds its own notices here.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass

import docker.errors
import requests

from .container_events import ContainerEvents
from .hub.server_command import ENTRY, is_server
from .profiles import format_size

log = logging.getLogger("localhub.server_watch")

PROCESSES_EVERY = 5.0


@dataclass
class Process:
    pid: int
    rss: int  # bytes
    command: str

    def describe(self) -> str:
        if is_server(self.command):
            name = ENTRY  # python3 -c <its code>: the name a user knows it by
        else:
            name = self.command.split()[0].rsplit("/", 1)[-1] if self.command else "?"
        what = "a notebook's kernel" if "ipykernel" in self.command else name
        return f"{what} ({name}, pid {self.pid}, {format_size(self.rss)})" if what != name else \
            f"{name} (pid {self.pid}, {format_size(self.rss)})"


def kernel_oom_victim(container_id: str, read_kernel_log=None) -> Process | None:
    """The process the kernel's OOM killer last chose in this container's memory cgroup, from the kernel
    log (needs permission to read it: root or CAP_SYSLOG where dmesg is restricted)."""
    lines = (read_kernel_log or _read_kmsg)()
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if "oom-kill:" not in line or container_id not in line.split("task_memcg=", 1)[-1]:
            continue
        found = re.search(r"task=([^,]*),pid=(\d+)", line)
        if not found:
            continue
        name, pid = found.group(1), int(found.group(2))
        rss = 0
        for after in lines[i + 1:i + 4]:
            killed = re.search(rf"Killed process {pid} .*?anon-rss:(\d+)kB", after)
            if killed:
                rss = int(killed.group(1)) * 1024
                break
        return Process(pid, rss, name)
    return None


def _read_kmsg(limit: int = 20000) -> list[str]:
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    lines = []
    try:
        while len(lines) < limit:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: a record was overwritten while reading; go on with the next
                continue
            lines.append(record.decode("utf-8", "replace").split(";", 1)[-1].rstrip("\n"))
    finally:
        os.close(fd)
    return lines


def out_of_memory_notice(victim: Process | None, limit: int | None, when: float, stopped: bool) -> str:
    what = victim.describe() if victim else "a process"
    at_limit = f" at this server's {format_size(limit)} memory limit" if limit else " at this server's memory limit"
    then = time.strftime("%H:%M", time.localtime(when))
    tail = ("; the server stopped" if stopped else
            "; a notebook's kernel that was killed restarts empty")
    return (f"out of memory: the kernel killed {what}{at_limit} at {then}{tail} — use less memory or a profile "
            "with more (--profile large)")


class ServerWatch:
    """Notices per server container (by name), from the engine's events and a periodic look at processes."""

    def __init__(self, client, events: ContainerEvents, read_kernel_log=None, interval: float = PROCESSES_EVERY):
        self._client = client  # docker.DockerClient
        self._events = events
        self._read_kernel_log = read_kernel_log
        self.interval = interval
        self._notices: dict[str, str] = {}
        self._processes: dict[str, list[Process]] = {}  # container id -> as last seen
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._forget = None
        self._thread = threading.Thread(target=self._run, name="server-watch", daemon=True)

    def start(self) -> None:
        self._forget = self._events.listen(None, self.on_event)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._forget:
            self._forget()

    def notice(self, container: str | None) -> str | None:
        with self._lock:
            return self._notices.get(container) if container else None

    def tell(self, container: str, text: str) -> None:
        with self._lock:
            self._notices[container] = text

    # --- events -------------------------------------------------------------------------------
    def on_event(self, event: dict) -> None:
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        if attributes.get("localhub.role") or "localhub.server" not in attributes:
            return  # not a server's container (an image inspection, a storage meter)
        name, status = attributes.get("name", ""), event.get("status")
        if status == "start":
            with self._lock:
                self._notices.pop(name, None)  # a fresh start: what happened before is history
        elif status == "oom":
            self._out_of_memory(event["id"], name, event.get("time") or time.time())

    def _out_of_memory(self, container_id: str, name: str, when: float) -> None:
        victim = kernel_oom_victim(container_id, self._read_kernel_log)
        limit, stopped = None, False
        try:
            attrs = self._client.api.inspect_container(container_id)
            limit = (attrs.get("HostConfig") or {}).get("Memory") or None
            stopped = not attrs["State"]["Running"]
            if victim is None:
                victim = self._vanished(container_id)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            pass
        text = out_of_memory_notice(victim, limit, when, stopped)
        log.warning("%s: %s", name, text)
        self.tell(name, text)

    def _vanished(self, container_id: str) -> Process | None:
        """The largest process seen at the last look that is gone now (the likeliest victim)."""
        before = self._processes.get(container_id) or []
        now = {p.pid for p in self._top(container_id) or []}
        gone = [p for p in before if p.pid not in now]
        return max(gone, key=lambda p: p.rss) if gone else None

    # --- processes, every few seconds ----------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.look()
            except Exception:
                log.exception("looking at the servers' processes failed; trying again in %.0f s", self.interval)
            self._stop.wait(self.interval)

    def look(self) -> None:
        running = self._client.api.containers(filters={"label": [f"localhub.instance={self._events.instance}",
                                                                 "localhub.server"]})
        seen = {}
        for container in running:
            if (container.get("Labels") or {}).get("localhub.role"):
                continue
            processes = self._top(container["Id"])
            if processes is not None:
                seen[container["Id"]] = processes
        self._processes = seen

    def _top(self, container_id: str) -> list[Process] | None:
        try:
            answer = self._client.api.top(container_id, ps_args="-o pid,rss,args")
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return None
        processes = []
        for row in answer.get("Processes") or []:
            try:
                processes.append(Process(int(row[0]), int(row[1]) * 1024, row[2] if len(row) > 2 else ""))
            except (ValueError, IndexError):
                continue
        return processes
