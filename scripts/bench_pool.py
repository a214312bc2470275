"""Benchmark: the lab pool on a simulated two-desktop LAN — discovery, remote spawns, homes coming back.

Builds the same LAN as tests/lan/test_pool_remote.py (and imports its helpers from tests/lan: `Lan`,
`Desk`, `LabTools`): two network namespaces joined by veth pairs through a bridge, each "desktop"
with its own dockerd (cached engine roles `bench-hub` and `bench-peer`, so a concurrent LAN test run is not
kept waiting on its `hub`/`peer` locks) and its own `localhub up`. The peer shares (1 CPU, 3G, 20G) and its
owner is away. Everything is measured in ONE run; only the same-run ratios mean much.

1. Discovery. A new peer: the peer's localhub is stopped, the hub is seen to drop it, then `localhub up` again;
   timed from the peer daemon's "Pool agent … listening" log line (its log file is polled every 20 ms) until
   the hub daemon's live view of the lab lists the peer with live state `idle`. That view is what
   `localhub pool status --json` prints; a small watcher in the hub's namespace asks the daemon's API for it
   every 20 ms (polling the CLI itself costs ~1 s a call); one `pool status --json` then confirms it, and how
   long that call took is shown. Also shown: the same instant measured from the
   moment the peer's `up` returned (negative when the hub saw the peer before the peer's own JupyterHub was
   ready), and a monitor started after the peer is up: the hub restarted, timed from the hub daemon's own
   listening line (the daemon's API answers only once its JupyterHub does, since the hub checks the token, so
   this figure includes the hub's own start). Medians of --runs cycles each.
2. Spawn to ready, remote over local, same image (localhub/singleuser:test): `localhub servers new lN --where
   local` against `localhub servers new rN --where <peer node>`, interleaved, wall time of the command (it
   returns once the server answers through the hub's proxy); JupyterHub's own "took N seconds" is shown
   beside. A first spawn of each kind comes before: the remote one carries the image to the peer (its size
   and time are shown) and is reported on its own. Servers are stopped and deleted between runs.
   RATIO remote / local > 1 is what running on a colleague's desktop costs in start-up time.
3. Home return. A server on the peer gets --size MB of random bytes written into its home (`docker exec` on
   the peer's engine). Then --runs times, interleaved: a baseline copies the same home directory over the
   same veth link — `tar -cf - . | nc` from the peer's namespace into `nc -l | tar -xf -` in the hub's (a
   small Python socket relay stands in for nc when nc is missing, and the output says so) — and
   `localhub servers stop home` on the hub is timed (the peer stops the guest, tar reads the home while it is
   sent, the hub unpacks it while it arrives and swaps it in once the signed trailer checks out; its SHA-256
   is checked here afterwards); between runs the server is started on the peer again (its home goes out with
   it). Two figures against the baseline of the same run: the transfer itself, as the hub's daemon logs it
   ("… MB in N s from the peer's answer to swapped in": the peer answers once its tar reads the home, so
   from the first byte read there until the home is swapped in here), and the wall time of the whole `servers stop` (the
   guest's shutdown and the CLI included). Ratios are baseline time / localhub time of each run (same
   bytes), their median shown; RATIO < 1 is the price of the checked, signed, encrypted transfer. The load
   average before and after is printed: other work on the machine disturbs both sides alike only roughly.
   The veth link has no speed limit of its own: both copies run as fast as the two "desktops" sharing this
   machine's cores can make and take bytes, so that ratio is one of CPU work per byte. A real LAN is slower:
   each run is therefore done a second time with both ends of the link shaped to --shape Mbit/s (default
   1000, a gigabit LAN; `tc` token bucket, tests/lan/netns.py Lan.shape), baseline and localhub alike, and
   those ratios are reported beside the unshaped ones (--shape 0: unshaped only). --only-home runs this
   section alone.

MB are 10^6 bytes, as in localhub's own log. Needs root (namespaces, engines); the main Docker engine is only
read (the image is copied from it). Everything made is removed at the end; the engines' data roots under
/var/lib/localhub-test/engines/bench-* stay as an image cache. Logs are kept when the benchmark fails.

    sudo .venv/bin/python scripts/bench_pool.py [--runs N] [--size MB] [--shape MBIT] [--no-nc] [--only-home]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.lan.* and localhub, whatever the working directory

from localhub.pool.trust.keys import node_id  # noqa: E402
from tests.lan.conftest import LabTools  # noqa: E402
from tests.lan.desks import IMAGE, CommandFailed, Desk  # noqa: E402
from tests.lan.netns import Lan, netns_available  # noqa: E402

COPY_PORT = 9400  # the baseline copy's port on the hub's LAN address
HOME = "/home/jovyan"
PAYLOAD = "payload.bin"
LISTENING = "Pool agent for lab"
BEGAN = time.monotonic()


class BenchError(Exception):
    """A failure worth one sentence (no traceback)."""


def say(message: str) -> None:
    print(f"[{time.monotonic() - BEGAN:6.1f} s] {message}", flush=True)


class BenchDesk(Desk):
    """A desk as in the LAN tests (tests/lan/desks.py), on engines of its own and without home syncs in the
    middle of a measurement."""

    def __init__(self, lan: Lan, name: str, root: Path):
        super().__init__(lan, name, root, role=f"bench-{name}", sync_every=3600)

    def shell(self, script: str, **popen) -> subprocess.Popen:
        """`sh -c script` in the namespace, in a process group of its own (pid = group id: `ip netns exec`
        execs sh), so a whole pipeline can be killed."""
        return subprocess.Popen(["ip", "netns", "exec", self.host.ns, "sh", "-c", script], start_new_session=True,
                                **popen)


# Runs in the hub's namespace: asks the hub daemon's API every 20 ms whether it lists the peer idle, and
# prints a JSON line whenever that changes (a restarting daemon counts as "not idle").
WATCH = """
import json, sys, time
from pathlib import Path
from localhub.client import Client
state, node, seen = Path(sys.argv[1]), sys.argv[2], None
while True:
    try:
        client = Client(state, timeout=2)
        try:
            peers = (client.pool() or {}).get("peers", [])
        finally:
            client.http.close()
        idle = any(p.get("node") == node and (p.get("live") or {}).get("state") == "idle" for p in peers)
    except Exception:
        idle = False
    if idle != seen:
        print(json.dumps({"event": "idle" if idle else "not-idle", "at": time.time()}), flush=True)
        seen = idle
    time.sleep(0.02)
"""


class Lab:
    """The two desks, set up and torn down."""

    def __init__(self, root: Path):
        self.root = root
        self.lan = Lan(root)
        self.hub = BenchDesk(self.lan, "hub", root)
        self.peer = BenchDesk(self.lan, "peer", root)
        self.tools = LabTools(self.lan)
        self.watch, self.seen_idle = None, False

    def start(self) -> None:
        for desk in (self.hub, self.peer):
            say(f"starting the {desk.name}'s own Docker engine (role {desk.engine.role})…")
            desk.engine.start()
        took = self.hub.engine.load_image(IMAGE)
        say(f"image {IMAGE} on the hub's engine" + (f" (copied from the main engine in {took:.0f} s)" if took
                                                    else " (cached)"))
        self.peer.engine.remove_image(IMAGE)  # the first remote spawn carries it, as on a real lab
        self.tools.new_lab(self.hub.host, self.peer.host)
        self.tools.cli(self.peer.host, "share", "on", "--cpus", "1", "--memory", "3G", "--disk", "20G")
        self.tools.owner_away(self.peer.host)
        self.peer.node = node_id(self.peer.host.state_dir)

    def hub_sees_peer_idle(self) -> bool:
        """The hub daemon's live view (what `pool status --json` prints) lists the peer as idle, as the
        watcher last saw it."""
        if self.watch is None:
            self.watch = self.lan.python(self.hub.host, "-c", WATCH, str(self.hub.host.state_dir), self.peer.node,
                                         label="hub:watch")
        for event in self.watch.drain(0.005):
            self.seen_idle = event["event"] == "idle"
        return self.seen_idle

    def status_lists_peer_idle(self) -> float:
        """Seconds one `localhub pool status --json` on the hub took; BenchError unless it lists the peer idle."""
        began = time.perf_counter()
        out = json.loads(self.hub.localhub("pool", "status", "--json").stdout)
        took = time.perf_counter() - began
        if not any(p["node"] == self.peer.node and (p.get("live") or {}).get("state") == "idle"
                   for p in out["peers"]):
            raise BenchError(f"the hub's daemon listed the peer idle but `pool status --json` does not: "
                             f"{out['peers']}")
        return took

    def close(self) -> None:
        for desk in (self.hub, self.peer):
            try:
                desk.down()
            except Exception:  # a hung `down`: the engines' stop below removes its containers anyway
                pass
        self.lan.close()  # stops both engines (containers and volumes go, images stay), deletes namespaces


# --- small tools ---------------------------------------------------------------------------------

class FirstTrue:
    """Calls `check()` every `every` s on a thread until it is true; `at` is then the time.time() it was."""

    def __init__(self, check, every: float = 0.02):
        self.check, self.every, self.at = check, every, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.check():
                self.at = time.time()
                return
            self._stop.wait(self.every)

    def wait(self, timeout: float, what: str) -> float:
        self._thread.join(timeout)
        self._stop.set()
        if self.at is None:
            raise BenchError(f"not within {timeout:.0f} s: {what}")
        return self.at


def wait(predicate, timeout: float, what: str, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise BenchError(f"not within {timeout:.0f} s: {what}")


def log_grows_with(path: Path, text: str):
    """A check for FirstTrue: `text` appears in the part of `path` written from now on."""
    offset = path.stat().st_size if path.exists() else 0

    def check() -> bool:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                return text.encode() in f.read()
        except OSError:
            return False
    return check


def tree_bytes(top: Path) -> int:
    return sum((Path(d) / f).lstat().st_size for d, _, files in os.walk(top) for f in files)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def med(values: list[float]) -> float:
    return statistics.median(values)


def fmt(values: list[float]) -> str:
    return "[" + " ".join(f"{v:.2f}" for v in values) + "]"


# --- 1. discovery --------------------------------------------------------------------------------

def discovery_cycle(lab: Lab, restarted: Desk) -> dict:
    """Stop `restarted`'s localhub, start it again, and time until the hub sees the peer idle."""
    restarted.down()
    if restarted is lab.peer:
        wait(lambda: not lab.hub_sees_peer_idle(), 90, "the hub notices that the peer's localhub stopped")
    listening = FirstTrue(log_grows_with(restarted.logs / "daemon.log", LISTENING))
    seen = FirstTrue(lab.hub_sees_peer_idle)
    restarted.up()
    up_returned = time.time()
    seen_at = seen.wait(90, "the hub lists the peer as idle")
    listening_at = listening.wait(5, f"the {restarted.name} daemon logs '{LISTENING} … listening'")
    return {"from_listening": seen_at - listening_at, "from_up": seen_at - up_returned,
            "cli": lab.status_lists_peer_idle()}


# --- 2. spawns -----------------------------------------------------------------------------------

def hub_took(lab: Lab, name: str) -> float:
    """JupyterHub's 'User x:<name> took N seconds to start', last one."""
    found = re.findall(rf":{re.escape(name)} took ([0-9.]+) seconds to start", lab.hub.log_text("hub.log"))
    return float(found[-1]) if found else float("nan")


def spawn(lab: Lab, name: str, where: str) -> tuple[float, float]:
    """(wall seconds of `servers new`, JupyterHub's 'took'); checks it runs where it was sent."""
    began = time.perf_counter()
    lab.hub.localhub("servers", "new", name, "--where", where, timeout=900)
    wall = time.perf_counter() - began
    placed = lab.hub.servers()[name]
    if placed["status"] != "running" or (placed["where"] == "local") != (where == "local"):
        raise BenchError(f"server {name} should run {'here' if where == 'local' else 'on the peer'} but is "
                         f"listed as {placed['status']}, where {placed['where']}")
    return wall, hub_took(lab, name)


def remove(lab: Lab, name: str, remote: bool) -> None:
    lab.hub.localhub("servers", "stop", name, timeout=600)
    lab.hub.localhub("servers", "delete", name, "--yes")
    if remote:
        wait(lambda: not lab.peer.guests(), 60, f"the peer forgets server {name}")


def image_transfer(lab: Lab) -> str:
    log = lab.hub.log_text("hub.log")
    size = re.findall(r"Sending image \S+ \(([0-9.]+) MB\)", log)
    took = re.findall(r"Image sent and loaded in ([0-9.]+) s", log)
    if not size or not took:
        return "no image transfer logged"
    return f"image {size[-1]} MB sent and loaded in {took[-1]} s"


# --- 3. home return ------------------------------------------------------------------------------

RECEIVER = ("import socket, sys\n"
            "server = socket.create_server((sys.argv[1], int(sys.argv[2])))\n"
            "conn, _ = server.accept()\n"
            "while data := conn.recv(1 << 20):\n"
            "    sys.stdout.buffer.write(data)\n")
SENDER = ("import socket, sys\n"
          "conn = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
          "while data := sys.stdin.buffer.read(1 << 20):\n"
          "    conn.sendall(data)\n"
          "conn.shutdown(socket.SHUT_WR)\n")


def netcat() -> tuple[str, str] | None:
    """('openbsd'|'traditional', path) of the nc here, or None (then a Python relay stands in)."""
    path = shutil.which("nc") or shutil.which("netcat")
    if not path:
        return None
    said = subprocess.run([path, "-h"], capture_output=True, text=True)
    text = said.stdout + said.stderr
    if "OpenBSD" in text or "-N" in text:
        return "openbsd", path
    if "-q secs" in text or "[v1." in text:
        return "traditional", path
    return None  # ncat, busybox…: flags differ; the relay is predictable


def copy_commands(tool: tuple[str, str] | None, address: str, port: int) -> tuple[str, str]:
    """(receiving end, sending end) of the byte pipe between the namespaces, as shell words."""
    if tool is None:
        python = shlex.quote(sys.executable)
        return (f"{python} -c {shlex.quote(RECEIVER)} {address} {port}",
                f"{python} -c {shlex.quote(SENDER)} {address} {port}")
    kind, nc = tool
    if kind == "openbsd":
        return f"{nc} -l {address} {port}", f"{nc} -N {address} {port}"
    return f"{nc} -l -s {address} -p {port}", f"{nc} -q 0 {address} {port}"


def baseline_copy(lab: Lab, source: Path, dest: Path, tool) -> float:
    """Seconds for `tar -c source | <pipe over the LAN> | tar -x -C dest`, peer to hub."""
    dest.mkdir()
    receive, send = copy_commands(tool, lab.hub.host.address, COPY_PORT)
    listening = ["ip", "netns", "exec", lab.hub.host.ns, "ss", "-ltnH", f"sport = :{COPY_PORT}"]
    receiver = lab.hub.shell(f"{receive} < /dev/null | tar -xf - -C {shlex.quote(str(dest))}",
                             stderr=subprocess.PIPE, text=True)
    sender = None
    try:
        wait(lambda: subprocess.run(listening, capture_output=True, text=True).stdout.strip(), 10,
             "the baseline's receiver listens", every=0.02)
        began = time.perf_counter()
        sender = lab.peer.shell(f"tar -C {shlex.quote(str(source))} -cf - . | {send}", stderr=subprocess.PIPE,
                                text=True)
        sent_err = sender.communicate(timeout=600)[1]
        got_err = receiver.communicate(timeout=600)[1]
        took = time.perf_counter() - began
    finally:
        for proc in (sender, receiver):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the pipeline's group (see BenchDesk.shell)
                proc.wait()
    if sender.returncode or receiver.returncode:
        raise BenchError(f"the baseline copy failed: {(sent_err or got_err).strip() or 'non-zero exit'}")
    return took


# what each daemon's log says of the CPU a transfer took (the tars in the helper containers are not counted)
HUB_CPU = re.compile(r"swapped in [0-9.]+ s after the last byte; ([0-9.]+) s of CPU")
PEER_CPU = re.compile(r"sent the home of guest .* \(([0-9.]+) s of CPU in this process\)")
TRANSFER = re.compile(r"home of guest \S+ from \S+: ([0-9.]+) MB in ([0-9.]+) s from the peer's answer to swapped in")


def guest_home(lab: Lab) -> Path:
    """The directory of the running guest's home volume on the peer's engine (<data root>/volumes/…/_data)."""
    running = [g for g in lab.peer.guests() if g.status == "running"]
    if len(running) != 1:
        raise BenchError(f"the peer runs {len(running)} guests, not the one server `home`")
    return Path(next(m for m in running[0].attrs["Mounts"] if m["Destination"] == HOME)["Source"])


def home_return(lab: Lab, size_mb: int, runs: int, tool, scratch: Path, shape: int = 0) -> dict:
    """Interleaved: (baseline copy of the guest's home, `servers stop home`) × runs on the unshaped link, and as
    many over the link shaped to `shape` Mbit/s (0: none) right after each, the server started on the peer again
    between pairs (its home goes out with it, over the unshaped link)."""
    lab.hub.localhub("servers", "new", "home", "--where", lab.peer.node, timeout=900)
    guest = lab.peer.guests()[0]
    say(f"writing {size_mb} MB of random bytes into the guest's home…")
    done = guest.exec_run(["sh", "-c", f"head -c {size_mb * 1_000_000} /dev/urandom > {HOME}/{PAYLOAD}"])
    if done.exit_code != 0:
        raise BenchError(f"writing into the guest's home failed: {done.output.decode(errors='replace').strip()}")
    source = guest_home(lab)
    data_bytes, digest = tree_bytes(source), sha256(source / PAYLOAD)

    load = [os.getloadavg()]
    links = [0] + ([shape] if shape else [])
    measured = {link: {"baseline_s": [], "stop_s": [], "transfer_s": [], "cpu": []} for link in links}
    archive_mb, started = 0.0, True
    for i in range(runs):
        for link in links:
            if not started:
                lab.hub.localhub("servers", "start", "home", "--where", lab.peer.node, timeout=900)
                source = guest_home(lab)
                if sha256(source / PAYLOAD) != digest:
                    raise BenchError("the home sent back out to the peer does not hold the bytes written there")
            started = False
            for desk in (lab.hub, lab.peer) if link else ():
                lab.lan.shape(desk.host, link)
            try:
                baseline, stop, archive_mb, transfer, cpu = home_pair(lab, source, scratch / f"copy-{i}-{link}",
                                                                      tool, digest)
            finally:
                for desk in (lab.hub, lab.peer) if link else ():
                    lab.lan.unshape(desk.host)
            got = measured[link]
            got["baseline_s"].append(baseline)
            got["stop_s"].append(stop)
            got["transfer_s"].append(transfer)
            got["cpu"].append(cpu)
            say(f"run {i + 1}, {link_name(link)}: baseline {baseline:.2f} s, localhub transfer {transfer:.2f} s "
                f"({baseline / transfer:.2f}x), `servers stop` {stop:.2f} s ({baseline / stop:.2f}x); "
                f"load {os.getloadavg()[0]:.2f}")
    load.append(os.getloadavg())
    phases = []
    for desk in (lab.hub, lab.peer):  # what each daemon logged about the last run
        lines = desk.log_text("daemon.log").splitlines()
        for marker in ("home of guest", "now stopped"):
            last = [line for line in lines if marker in line][-1:]
            phases += [f"{desk.name}: {line.split(' INFO ', 1)[-1]}" for line in last]
    lab.hub.localhub("servers", "delete", "home", "--yes")
    return {"data_mb": data_bytes / 1e6, "links": measured, "archive_mb": archive_mb, "phases": phases,
            "load": load}


def link_name(mbit: int) -> str:
    return f"link shaped to {mbit / 1000:g} Gbit/s" if mbit >= 1000 else \
        f"link shaped to {mbit} Mbit/s" if mbit else "unshaped veth link"


def home_pair(lab: Lab, source: Path, dest: Path, tool, digest: str) -> tuple[float, float, float, float, tuple]:
    """One baseline copy of the guest's home, then `servers stop home`: (baseline s, stop s, archive MB,
    transfer s as the hub's daemon logs it, CPU seconds (baseline's tars and ncs, hub daemon, peer daemon))."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    baseline = baseline_copy(lab, source, dest, tool)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the copy's shells waited for their tar and nc
    copy_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if (copied := tree_bytes(dest)) != (now := tree_bytes(source)):  # the running server writes a little too
        raise BenchError(f"the baseline copy has {copied} bytes, the guest's home {now}")
    shutil.rmtree(dest)

    logged = len(TRANSFER.findall(lab.hub.log_text("daemon.log")))
    began = time.perf_counter()
    lab.hub.localhub("servers", "stop", "home", timeout=900)
    stop = time.perf_counter() - began
    # the daemon brings homes back (the pool is its alone), so the line is in its log
    found = TRANSFER.findall(lab.hub.log_text("daemon.log"))
    if len(found) <= logged:
        raise BenchError("the hub's daemon logged no 'home of guest … from the peer's answer' line after "
                         "`servers stop home`")
    volumes = lab.hub.engine.client.volumes.list(filters={"label": "localhub.server=home"})
    if len(volumes) != 1 or sha256(Path(volumes[0].attrs["Mountpoint"]) / PAYLOAD) != digest:
        raise BenchError("the home that came back to the hub does not hold the bytes written on the peer")
    hub_cpu = HUB_CPU.findall(lab.hub.log_text("daemon.log"))
    peer_cpu = PEER_CPU.findall(lab.peer.log_text("daemon.log"))
    return baseline, stop, float(found[-1][0]), float(found[-1][1]), \
        (copy_cpu, float(hub_cpu[-1]) if hub_cpu else None, float(peer_cpu[-1]) if peer_cpu else None)


# --- report --------------------------------------------------------------------------------------

def other_lans(tag: str) -> list[str]:
    """Namespaces of other simulated LANs (a concurrent test run shares the CPUs with us)."""
    netns = Path("/run/netns")
    names = {p.name.split("-")[0] for p in netns.iterdir()} if netns.is_dir() else set()
    return sorted(n for n in names if n.startswith("lh") and n != tag)


def report(runs: int, found: dict, late: dict, local: list, remote: list, first: dict, home: dict, tool,
           concurrent: list[str]) -> None:
    def row(label: str, value: str, samples: str = "") -> None:
        print(f"  {label:<56} {value:>10}  {samples}")

    print(f"\nSummary — one run, medians of {runs}; MB = 10^6 bytes")
    print("1. Discovery of a peer (until the hub daemon's view lists it idle)")
    row("new peer: from its 'Pool agent … listening' line", f"{med(found['from_listening']):.2f} s",
        fmt(found["from_listening"]))
    row("new peer: from its `localhub up` returning", f"{med(found['from_up']):.2f} s", fmt(found["from_up"]))
    row("monitor started later: from the hub's listening line", f"{med(late['from_listening']):.2f} s",
        fmt(late["from_listening"]))
    row("`pool status --json` on the hub answers in", f"{med(found['cli'] + late['cli']):.2f} s")
    print("2. Spawn to ready (`servers new`, wall; JupyterHub's 'took' beside)")
    row("local  (--where local)", f"{med([w for w, _ in local]):.2f} s",
        f"{fmt([w for w, _ in local])}  took {med([t for _, t in local]):.2f} s")
    row("remote (--where peer, image already there)", f"{med([w for w, _ in remote]):.2f} s",
        f"{fmt([w for w, _ in remote])}  took {med([t for _, t in remote]):.2f} s")
    row("RATIO remote / local", f"{med([w for w, _ in remote]) / med([w for w, _ in local]):.2f} x",
        f"took: {med([t for _, t in remote]) / med([t for _, t in local]):.2f} x")
    row("first local spawn", f"{first['local'][0]:.2f} s", f"took {first['local'][1]:.2f} s")
    row("first remote spawn, image transfer included", f"{first['remote'][0]:.2f} s", first["image"])
    report_home(runs, home, tool)
    if concurrent:
        print(f"  NOTE: other simulated LANs ({', '.join(concurrent)}) ran at the same time on "
              f"{os.cpu_count()} CPUs: timings are disturbed; run again on a quiet machine to compare.")


def report_home(runs: int, home: dict, tool) -> None:
    def row(label: str, value: str, samples: str = "") -> None:
        print(f"  {label:<56} {value:>10}  {samples}")

    mb = home["data_mb"]
    copier = f"tar | nc ({tool[0]})" if tool else "tar | python socket relay (no nc here)"
    print(f"3. Home return ({mb:.0f} MB of random bytes in the home, {home['archive_mb']:.0f} MB of tar archive; "
          f"peer to hub; {runs} interleaved runs per link)")
    for link, got in home["links"].items():
        def ratios(seconds: list[float]) -> list[float]:  # run by run: baseline time / localhub time, same bytes
            return [b / s for b, s in zip(got["baseline_s"], seconds)]

        print(f" over the {link_name(link)}")
        row(f"baseline {copier}", f"{mb / med(got['baseline_s']):.0f} MB/s",
            f"{med(got['baseline_s']):.2f} s  {fmt(got['baseline_s'])}")
        row("localhub transfer: peer's first byte -> home swapped in", f"{mb / med(got['transfer_s']):.0f} MB/s",
            f"{med(got['transfer_s']):.2f} s  {fmt(got['transfer_s'])}")
        row("localhub `servers stop` (guest stop + CLI + transfer), wall", f"{mb / med(got['stop_s']):.0f} MB/s",
            f"{med(got['stop_s']):.2f} s  {fmt(got['stop_s'])}")
        row("RATIO transfer rate / baseline rate (run by run)", f"{med(ratios(got['transfer_s'])):.2f} x",
            fmt(ratios(got["transfer_s"])))
        row("RATIO `servers stop` rate / baseline rate (run by run)", f"{med(ratios(got['stop_s'])):.2f} x",
            fmt(ratios(got["stop_s"])))
        copy_cpu, hub_cpu, peer_cpu = ([c[k] for c in got["cpu"] if c[k] is not None] for k in range(3))
        row("CPU: baseline's 2 tars + 2 ncs / hub daemon / peer daemon", f"{med(copy_cpu):.2f} s",
            (f"{med(hub_cpu):.2f} s / " if hub_cpu else "? / ") + (f"{med(peer_cpu):.2f} s" if peer_cpu else "?")
            + "  (localhub's tars run in containers, not counted)")
    before, after = home["load"]
    row("load average (1, 5, 15 min) before / after", "",
        " ".join(f"{v:.2f}" for v in before) + " / " + " ".join(f"{v:.2f}" for v in after))
    for line in home["phases"]:
        print(f"    {line}")
    if not tool:
        print("  (nc is not installed here — `apt-get install netcat-openbsd` — so the baseline used a Python "
              "socket relay between the two tars)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (default 3)")
    parser.add_argument("--size", type=int, default=200, help="MB written into the remote home (default 200)")
    parser.add_argument("--no-nc", action="store_true", help="use the Python socket relay even if nc is here")
    parser.add_argument("--only-home", action="store_true", help="section 3 alone (home return), a quick look")
    parser.add_argument("--shape", type=int, default=1000, metavar="MBIT",
                        help="section 3 also over the link shaped to MBIT Mbit/s each way with tc (a real LAN's "
                             "speed; default 1000), baseline included; 0: the unshaped link only")
    parser.add_argument("--keep", action="store_true", help="keep the desks' state and logs after a good run")
    args = parser.parse_args()
    runs = max(args.runs, 1)
    if why := netns_available():
        print(f"bench_pool: {why}.", file=sys.stderr)
        return 2
    if not shutil.which("dockerd") or not shutil.which("ss") or (args.shape and not shutil.which("tc")):
        print("bench_pool: needs `dockerd`, `ss` and `tc` (iproute2) on this machine.", file=sys.stderr)
        return 2
    tool = None if args.no_nc else netcat()

    root = Path(tempfile.mkdtemp(prefix="localhub-bench-pool-"))
    lab, ok, concurrent = None, False, set()
    try:
        lab = Lab(root)
        print(f"localhub pool benchmark — {runs} runs, image {IMAGE}, {args.size} MB home, "
              f"{os.cpu_count()} CPUs, files in {root}", flush=True)
        lab.start()
        concurrent.update(other_lans(lab.lan.tag))

        say("peer: `localhub up`; then the hub (its monitor starts after the peer is up)…")
        lab.peer.up()
        late = {"from_listening": [], "from_up": [], "cli": []}
        lab.hub.up()
        wait(lab.hub_sees_peer_idle, 90, "the hub lists the peer as idle")
        if args.only_home:
            say(f"home return alone; baseline with {'nc (' + tool[0] + ')' if tool else 'a Python socket relay'}…")
            home = home_return(lab, args.size, runs, tool, root, max(args.shape, 0))
            report_home(runs, home, tool)
            ok = True
            return 0
        for i in range(runs):
            got = discovery_cycle(lab, lab.hub)
            for key, value in got.items():
                late[key].append(value)
            say(f"hub restarted {i + 1}: peer seen idle {got['from_listening']:.2f} s after the hub's listening line")
        found = {"from_listening": [], "from_up": [], "cli": []}
        for i in range(runs):
            got = discovery_cycle(lab, lab.peer)
            for key, value in got.items():
                found[key].append(value)
            say(f"new peer {i + 1}: seen idle {got['from_listening']:.2f} s after its listening line, "
                f"{got['from_up']:+.2f} s after its `up` returned")
        concurrent.update(other_lans(lab.lan.tag))

        say("first spawns: local, then remote (carries the image to the peer)…")
        first = {"local": spawn(lab, "l0", "local")}
        remove(lab, "l0", remote=False)
        first["remote"] = spawn(lab, "r0", lab.peer.node)
        first["image"] = image_transfer(lab)
        remove(lab, "r0", remote=True)
        say(f"first local {first['local'][0]:.2f} s, first remote {first['remote'][0]:.2f} s ({first['image']})")
        local, remote = [], []
        for i in range(1, runs + 1):
            local.append(spawn(lab, f"l{i}", "local"))
            remove(lab, f"l{i}", remote=False)
            remote.append(spawn(lab, f"r{i}", lab.peer.node))
            remove(lab, f"r{i}", remote=True)
            say(f"spawn {i}: local {local[-1][0]:.2f} s, remote {remote[-1][0]:.2f} s")
        concurrent.update(other_lans(lab.lan.tag))

        say(f"home return: a server on the peer; baseline with "
            f"{'nc (' + tool[0] + ')' if tool else 'a Python socket relay (nc not found)'}…")
        home = home_return(lab, args.size, runs, tool, root, max(args.shape, 0))
        concurrent.update(other_lans(lab.lan.tag))

        report(runs, found, late, local, remote, first, home, tool, sorted(concurrent))
        ok = True
        return 0
    except Exception as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if not isinstance(err, (BenchError, CommandFailed)):
            detail = f"{type(err).__name__}: {detail}".rstrip(": ")
        print(f"\nbench_pool failed: {detail}", file=sys.stderr)
        print(f"logs kept in {root} (each desk's state dir has logs/daemon.log and logs/hub.log)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nbench_pool interrupted; logs kept in {root}", file=sys.stderr)
        return 130
    finally:
        if lab is not None:
            say("cleaning up: localhub down on both desks, engines stopped, namespaces deleted…")
            try:
                lab.close()
            except Exception as err:
                print(f"bench_pool: cleanup incomplete: {err}", file=sys.stderr)
                ok = False
        if ok and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        elif ok:
            say(f"logs kept in {root} (each desk's state dir has logs/daemon.log and logs/hub.log)")
        say("done")


if __name__ == "__main__":
    sys.exit(main())
