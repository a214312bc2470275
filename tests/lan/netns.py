"""A simulated LAN on one machine: network namespaces joined through a bridge namespace by veth pairs.

Every address lives inside the namespaces this module creates (10.251.0.0/24 by default); the root
namespace gets no interface and no route, so nothing the tests run can reach a real network. `Lan.close()`
kills the processes it started and deletes its namespaces (which deletes their veths) no matter what.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def netns_available() -> str | None:
    """None when namespaces can be made here; otherwise why not (the skip reason)."""
    if os.geteuid() != 0:
        return "the LAN tests make network namespaces and need root"
    if not shutil.which("ip"):
        return "the LAN tests need iproute2's `ip` command"
    probe = f"lhprobe{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"`ip netns add` fails here: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class Proc:
    """A process in a namespace whose stdout is JSON lines, read on a thread so waits can time out."""

    def __init__(self, name: str, popen: subprocess.Popen, log: Path):
        self.name, self.popen, self.log = name, popen, log
        self.events: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "text", "text": line.rstrip()}
            event.setdefault("received", time.time())
            self._queue.put(event)
        self._queue.put(None)

    def wait_for(self, predicate, timeout: float, what: str = "an event") -> dict:
        """The first new event matching `predicate`; AssertionError naming `what` after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no {what} within {timeout} s; events: {self.events[-8:]}; "
                                     f"stderr: {self.stderr_tail()}")
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if event is None:
                self._queue.put(None)
                raise AssertionError(f"{self.name} ended (rc {self.popen.poll()}) before {what}; "
                                     f"stderr: {self.stderr_tail()}")
            self.events.append(event)
            if predicate(event):
                return event

    def drain(self, seconds: float) -> list[dict]:
        """Every event within the next `seconds`."""
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if event is None:
                self._queue.put(None)
                break
            self.events.append(event)
            got.append(event)
        return got

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 10) -> int | None:
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait(5)

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Host:
    name: str
    ns: str
    address: str
    state_dir: Path


@dataclass
class Lan:
    root: Path  # test files: state dirs and logs
    subnet: str = "10.251.0"
    tag: str = field(default_factory=lambda: f"lh{os.getpid() % 100000}")
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    engines: list = field(default_factory=list)  # NamespaceEngine, stopped before their namespaces go

    def __post_init__(self):
        atexit.register(self.close)  # even if the test run is interrupted between fixture set-up and teardown
        self.bridge_ns = f"{self.tag}-br"
        try:
            self._add_ns(self.bridge_ns)
            # snooping off: the bridge floods multicast like a plain switch, whoever joined which group
            ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        except Exception:
            self.close()
            raise

    def _add_ns(self, name: str) -> None:
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 2
        ns, port = f"{self.tag}-{name}", f"p{index}"
        self._add_ns(ns)
        # both ends are made inside namespaces: no interface ever appears in the root namespace
        ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", self.bridge_ns)
        ip("-n", self.bridge_ns, "link", "set", port, "master", "br0", "up")
        address = f"{self.subnet}.{index}"
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up", "multicast", "on")
        state_dir = self.root / name
        state_dir.mkdir(parents=True, exist_ok=True)
        host = self.hosts[name] = Host(name, ns, address, state_dir)
        return host

    def link(self, host: Host, up: bool) -> None:
        ip("-n", host.ns, "link", "set", "eth0", "up" if up else "down")

    def shape(self, host: Host, mbit: int) -> None:
        """Limit the host's link to `mbit` each way: its own egress (what it sends) and the switch port's (what
        it receives). Only qdiscs inside our namespaces."""
        for ns, dev in self._link_ends(host):
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate",
                            f"{mbit}mbit", "burst", "256kb", "latency", "100ms"], check=True, capture_output=True)

    def unshape(self, host: Host) -> None:
        """The host's link at full speed again."""
        for ns, dev in self._link_ends(host):
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root"], capture_output=True)

    def _link_ends(self, host: Host) -> list[tuple[str, str]]:
        return [(host.ns, "eth0"), (self.bridge_ns, f"p{int(host.address.rsplit('.', 1)[1])}")]

    def block_tcp(self, host: Host, port: int) -> None:
        """Refuse connections to `port` inside the host (its own firewall; nothing outside the namespace)."""
        done = subprocess.run(["ip", "netns", "exec", host.ns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport",
                               str(port), "-j", "REJECT", "--reject-with", "tcp-reset"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"iptables in {host.ns}: {done.stderr.strip()}")

    def python(self, host: Host, *args: str, label: str = "") -> Proc:
        """Run `python ARGS` inside the host's namespace with the repository's interpreter."""
        label = label or f"{host.name}:{args[1] if len(args) > 1 else args[0]}"
        log = self.root / f"{label.replace(':', '-').replace('/', '_')}-{len(self.procs)}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOCALHUB_LOG": "INFO"}
        popen = subprocess.Popen(["ip", "netns", "exec", host.ns, sys.executable, *args], cwd=REPO, env=env,
                                 stdout=subprocess.PIPE, stderr=open(log, "wb"), text=True)
        proc = Proc(label, popen, log)
        self.procs.append(proc)
        return proc

    def capture(self, out: Path) -> Proc:
        """Record every frame crossing the LAN's switch into `out` until stopped (tests/lan/capture.py)."""
        switch = Host("switch", self.bridge_ns, "", self.root)
        proc = self.python(switch, "-m", "tests.lan.capture", "--out", str(out), label="switch:capture")
        proc.wait_for(lambda e: e.get("event") == "capturing", 30, "the capture to start")
        return proc

    def run(self, host: Host, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", host.ns, sys.executable, *args], cwd=REPO, text=True,
                              capture_output=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def engine(self, host: Host, role: str | None = None, **start):
        """A started Docker engine of the host's own (see tests/lan/engines.py); `close()` stops it."""
        from tests.lan.engines import NamespaceEngine  # engines.py imports this module

        engine = NamespaceEngine(host, self.root, role)
        self.engines.append(engine)
        return engine.start(**start)

    def logs(self) -> str:
        return "\n".join([f"--- {p.name} (rc {p.popen.poll()})\n{p.stderr_tail(30)}" for p in self.procs] +
                         [f"--- {e.log_path}\n{e.log_tail(30)}" for e in self.engines])

    def close(self) -> None:
        failures = []
        for engine in reversed(self.engines):
            try:
                engine.stop()
            except Exception as err:  # the namespaces must go whatever happened
                failures.append(f"{engine}: {err}")
        self.engines.clear()
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.kill()  # our own child (`ip netns exec` execs python: same pid)
                try:
                    proc.popen.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces.clear()
        if failures:
            raise RuntimeError("stopping the hosts' engines: " + "; ".join(failures))
