"""Live CPU and memory use of running server containers, sampled in the background, with a short bounded
history per container (what the TUI draws as sparklines and charts).

Docker's one-shot stats give memory at once but CPU only as a running total, so CPU % is computed from
the difference between two samples taken a few seconds apart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import docker
import docker.errors
import requests

from .docker_engine import hub_containers

log = logging.getLogger(__name__)

HISTORY = 120  # samples kept per container: ten minutes at the default five-second interval


class UsageSampler:
    def __init__(self, client: docker.DockerClient, instance: str, interval: float = 5.0,
                 history: int = HISTORY):
        self._client = client
        self._instance = instance
        self.interval = interval
        self._previous: dict[str, tuple[int, int]] = {}  # container -> (cpu total ns, system ns)
        self.latest: dict[str, dict] = {}  # container name -> {"cpu_percent", "memory", "sampled"}
        # container name -> (sampled, cpu_percent, memory) oldest first; only containers seen at the last
        # sample are kept, so the memory held is bounded by servers × `history`
        self._history: dict[str, deque] = {}
        self._history_length = history
        self._lock = threading.Lock()  # the API reads histories from another thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="usage-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def history(self, container: str | None) -> list[tuple[float, float | None, int]]:
        """The container's recent samples, oldest first: (unix time, CPU % of one core, memory bytes)."""
        with self._lock:
            return list(self._history.get(container, ())) if container else []

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                pass  # the engine is busy or restarting: the next round tries again
            except Exception:  # never let one odd answer freeze every figure for the daemon's lifetime
                log.exception("Sampling CPU and memory use failed; trying again in %.0f s", self.interval)
            self._stop.wait(self.interval)

    def sample(self) -> None:
        containers = hub_containers(self._client, self._instance, all=False)
        latest = {}
        for container in containers:
            try:
                stats = self._client.api.stats(container.id, stream=False, one_shot=True)
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                # a container that stopped since the list answers with an empty body (JSONDecodeError)
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
        self._remember(latest, {c.name for c in containers})

    def _remember(self, latest: dict[str, dict], running: set[str]) -> None:
        with self._lock:
            for name in set(self._history) - running:
                del self._history[name]  # stopped or removed: a restart begins a fresh history
            for name, figures in latest.items():
                self._history.setdefault(name, deque(maxlen=self._history_length)).append(
                    (round(figures["sampled"], 1), figures["cpu_percent"], figures["memory"]))
        for name in set(self._previous) - running:
            del self._previous[name]
