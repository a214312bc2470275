"""Unauthenticated requests must not exhaust the machine (issue 10, item 10): oversized bodies are refused
before anyone reads them, half-sent requests cannot take every descriptor, and the log stays small. The hub
runs under a 1024-descriptor limit (soft and hard: a desktop's default at its worst), as its user would
start it from a shell with `ulimit -n 1024`. The figures (memory peaks, log growth) are printed for the
closing note."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

MiB = 2**20
BODY = 90 * MiB
HALF_SENT = 1100


@pytest.fixture(scope="module")
def lhub(hub_factory):
    """A hub started under `ulimit -n 1024`."""
    hub = hub_factory.create("requests")
    up = subprocess.run(["prlimit", "--nofile=1024:1024", sys.executable, "-m", "localhub", "up", "--detach",
                         "--port", str(hub.port)], env=hub.env, capture_output=True, text=True, timeout=240)
    assert up.returncode == 0, up.stderr
    # this test's own end needs more than 1100 descriptors
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    return hub


def processes(hub) -> dict[str, psutil.Process]:
    state = hub.state_dir
    runtime = json.loads((state / "runtime.json").read_text())
    found = {"daemon": psutil.Process(runtime["daemon_pid"])}
    found["jupyterhub"] = psutil.Process(int((state / "hub.pid").read_text()))  # the proxy runs inside it
    return found


class Peaks:
    """Resident memory of the hub's processes, sampled every 50 ms while a block runs."""

    def __init__(self, procs: dict[str, psutil.Process]):
        self.procs, self.peak = procs, {name: p.memory_info().rss for name, p in procs.items()}
        self.before = dict(self.peak)
        self._stop = threading.Event()

    def __enter__(self):
        def sample():
            while not self._stop.wait(0.05):
                for name, p in self.procs.items():
                    try:
                        self.peak[name] = max(self.peak[name], p.memory_info().rss)
                    except psutil.Error:
                        pass
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def growth(self) -> dict[str, int]:
        return {name: self.peak[name] - self.before[name] for name in self.peak}


def log_bytes(hub) -> int:
    return sum(p.stat().st_size for p in (hub.state_dir / "logs").glob("*.log*"))


def post_big(url: str) -> int | str:
    """POST a 90 MiB body with no credentials; the status, or how the connection ended."""
    body = b"x" * BODY
    try:
        return httpx.post(url, content=body, timeout=60).status_code
    except httpx.HTTPError as err:
        return type(err).__name__


def test_oversized_unauthenticated_bodies_are_refused_without_being_read(lhub):
    runtime = json.loads((lhub.state_dir / "runtime.json").read_text())
    targets = {
        "proxy -> hub": f"{lhub.url}/hub/api/users",
        "proxy -> localhub service": f"{lhub.url}/services/localhub/api/login-link",
        "proxy -> a server's route": f"{lhub.url}/user/{lhub.user}/nothere/api/contents/x",
        "hub API directly": f"http://{runtime['gateway']}:{lhub.port + 3}/hub/api/users",
        "localhub service directly": f"http://127.0.0.1:{lhub.port + 2}/services/localhub/api/login-link",
    }
    with Peaks(processes(lhub)) as peaks:
        results: dict = {}
        threads = [threading.Thread(target=lambda n=n, u=u, i=i: results.__setitem__((n, i), post_big(u)))
                   for n, u in targets.items() for i in range(8 if n == "proxy -> hub" else 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    growth = peaks.growth()
    print(f"\nFIGURE oversized bodies: RSS growth (MiB) {({k: round(v / MiB) for k, v in growth.items()})}; "
          f"answers {sorted(set(map(str, results.values())))}")
    assert all(code in (413, 403, 400, 404) or isinstance(code, str) for code in results.values()), results
    assert all(v < 64 * MiB for v in growth.values()), growth
    assert httpx.get(f"{lhub.url}/hub/api/", timeout=10).status_code == 200


def test_half_sent_requests_at_the_descriptor_limit_leave_the_hub_answering_and_the_log_small(lhub):
    runtime = json.loads((lhub.state_dir / "runtime.json").read_text())
    ports = {"proxy": ("127.0.0.1", lhub.port), "hub API": (runtime["gateway"], lhub.port + 3),
             "localhub service": ("127.0.0.1", lhub.port + 2)}
    log_before = log_bytes(lhub)
    answered, slow = {}, []
    try:
        for name, address in ports.items():
            for _ in range(HALF_SENT):
                s = socket.socket()
                s.settimeout(5)
                try:
                    s.connect(address)
                    s.sendall(b"POST /hub/api/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n")
                except OSError:
                    s.close()
                    continue
                slow.append(s)
            time.sleep(2)
            started = time.monotonic()
            try:
                answered[name] = (httpx.get(f"{lhub.url}/hub/api/", timeout=15).status_code,
                                  round(time.monotonic() - started, 2))
            except httpx.HTTPError as err:
                answered[name] = (type(err).__name__, round(time.monotonic() - started, 2))
        time.sleep(5)
        still = httpx.get(f"{lhub.url}/hub/api/", timeout=15).status_code
    finally:
        for s in slow:
            s.close()
    grown = log_bytes(lhub) - log_before
    print(f"\nFIGURE {HALF_SENT} half-sent requests on each port: hub API answered {answered}; "
          f"log grew {grown / 1024:.0f} KiB")
    assert all(code == 200 for code, _ in answered.values()), answered
    assert still == 200
    assert grown < 2 * MiB
    for name, p in processes(lhub).items():
        assert p.is_running(), f"{name} died"
