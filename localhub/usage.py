"""Live CPU and memory use of running server containers, sampled in the background.

Docker's one-shot stats give memory at once but CPU only as a running total, so CPU % is computed from
the difference between two samples taken a few seconds apart.
"""

from __future__ import annotations

import threading
import time

import docker
import docker.errors


class UsageSampler:
    def __init__(self, client: docker.DockerClient, instance: str, interval: float = 5.0):
        self._client = client
        self._instance = instance
        self._interval = interval
        self._previous: dict[str, tuple[int, int]] = {}  # container -> (cpu total ns, system ns)
        self.latest: dict[str, dict] = {}  # container name -> {"cpu_percent", "memory"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="usage-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except docker.errors.DockerException:
                pass
            self._stop.wait(self._interval)

    def sample(self) -> None:
        containers = self._client.containers.list(filters={"label": f"localhub.instance={self._instance}"})
        latest = {}
        for container in containers:
            try:
                stats = self._client.api.stats(container.id, stream=False, one_shot=True)
            except docker.errors.DockerException:
                continue
            cpu = stats.get("cpu_stats", {})
            total = cpu.get("cpu_usage", {}).get("total_usage", 0)
            system = cpu.get("system_cpu_usage", 0)
            ncpu = cpu.get("online_cpus") or 1
            percent = None
            if container.name in self._previous:
                prev_total, prev_system = self._previous[container.name]
                if system > prev_system:
                    percent = round(100.0 * ncpu * (total - prev_total) / (system - prev_system), 1)
            self._previous[container.name] = (total, system)
            memory = stats.get("memory_stats", {})
            used = memory.get("usage", 0) - (memory.get("stats", {}).get("cache", 0) or 0)
            latest[container.name] = {"cpu_percent": percent, "memory": max(used, 0), "sampled": time.time()}
        self.latest = latest
