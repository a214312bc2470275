"""Benchmark: how long a localhub server takes to answer, compared with a bare `docker run` of the same image.

Measured in ONE run, interleaved (bare, localhub, bare, ...): only same-run ratios mean anything here.

  bare      `docker run -d` of localhub/singleuser:latest running `jupyter server` on a free 127.0.0.1 port,
            timed from the `docker run` call until GET /api/status answers 200 (polled every 50 ms).
  localhub  a throw-away hub (`localhub up --detach` with a tmp state dir and a tmp config dir whose
            config.toml labels everything `localhub.test=1`). Run 1 is Client.create_server (new container
            and new home volume); runs 2..N are Client.stop_server (untimed) + Client.start_server (timed).
            Timed from the client call (its servers-list pre-check, then the POST) until its generator
            returns, i.e. until GET /user/<user>/<name>/api/status through the proxy answers 200.

Also prints the idle hub's memory: RSS (and PSS) of the daemon and all its descendants, from /proc.
Cleanup always: `localhub down`, then everything labelled localhub.instance=<instance>, and this run's bare
containers (labelled localhub.test=1 plus localhub.bench=<run id>, so parallel test runs are left alone).

    .venv/bin/python scripts/bench_spawn.py [--runs N] [--port P]
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import httpx

from localhub.client import Client
from localhub.config import Settings

IMAGE = "localhub/singleuser:latest"
LOCALHUB = [str(Path(sys.executable).parent / "localhub")]
SERVER = "bench"
RUN_ID = uuid.uuid4().hex[:8]


def pick_hub_port(start: int) -> int:
    """The first P >= start (step 3) with P, P+1 and P+2 free on 127.0.0.1 (bound the way the daemon checks)."""
    for port in range(start, 65000, 3):
        try:
            for p in (port, port + 1, port + 2):
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
    raise SystemExit("no three free consecutive ports found")


def bare_run(http: httpx.Client, image: str = IMAGE, label: str = f"localhub.bench={RUN_ID}") -> float:
    """One bare container of `image`: seconds from `docker run` until /api/status answers 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = ["docker", "run", "-d", "--label", "localhub.test=1", "--label", label,
           "-p", f"127.0.0.1:{port}:8888", image,
           "jupyter", "server", "--ServerApp.token=", "--ip=0.0.0.0", "--port=8888", "--no-browser"]
    t0 = time.perf_counter()
    cid = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    try:
        while time.perf_counter() - t0 < 120:
            try:
                if http.get(f"http://127.0.0.1:{port}/api/status").status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"bare container {cid[:12]} did not answer within 120 s")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)


def localhub_run(client: Client, first: bool) -> float:
    """One spawn through the hub: seconds from the client call until it answers through the proxy."""
    if not first:
        client.stop_server(SERVER)  # untimed: waits until the hub reports it stopped
    t0 = time.perf_counter()
    for _event in client.create_server(SERVER) if first else client.start_server(SERVER):
        pass  # progress events; the generator returns once /user/<user>/<name>/api/status answers 200
    return time.perf_counter() - t0


def hub_took(state_dir: Path, server: str = SERVER) -> float:
    """JupyterHub's own 'User x:<server> took N seconds to start' (spawner.start + its HTTP wait), last one."""
    found = re.findall(rf":{re.escape(server)} took ([0-9.]+) seconds to start",
                       (state_dir / "logs/hub.log").read_text())
    return float(found[-1]) if found else float("nan")


def process_tree(root: int) -> list[tuple[int, int, int, str]]:
    """(pid, rss bytes, pss bytes, command) for root and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:  # field 4 (after the parenthesised command) is the parent pid
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    tree = [root]
    for pid in tree:  # grows while iterating: breadth-first walk
        tree.extend(p for p, pp in parents.items() if pp == pid)
    rows = []
    for pid in sorted(tree):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
            rss, pss = (int(fields[k].split()[0]) * 1024 for k in ("Rss", "Pss"))
        except (OSError, KeyError, ValueError):
            continue
        words = [os.path.basename(a.decode()) for a in argv if a][:5]
        rows.append((pid, rss, pss, " ".join(words)[:70]))
    return rows


def print_memory(title: str, rows) -> float:
    mib = 1024 * 1024
    print(f"\n{title}")
    print(f"  {'PID':>7}  {'RSS MiB':>8}  {'PSS MiB':>8}  COMMAND")
    for pid, rss, pss, command in rows:
        print(f"  {pid:>7}  {rss / mib:8.1f}  {pss / mib:8.1f}  {command}")
    total_rss = sum(r[1] for r in rows) / mib
    print(f"  {'total':>7}  {total_rss:8.1f}  {sum(r[2] for r in rows) / mib:8.1f}  ({len(rows)} processes)")
    return total_rss


def cleanup(env: dict, state_dir: Path, instance: str | None) -> None:
    subprocess.run(LOCALHUB + ["down", "--state-dir", str(state_dir)], env=env, capture_output=True, timeout=120)
    engine = docker.from_env()
    filters = [f"localhub.bench={RUN_ID}"] + ([f"localhub.instance={instance}"] if instance else [])
    for label in filters:
        for c in engine.containers.list(all=True, filters={"label": label}):
            c.remove(force=True, v=True)
        for v in engine.volumes.list(filters={"label": label}):
            v.remove(force=True)
        for n in engine.networks.list(filters={"label": label}):
            n.remove()


def fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind (default 5)")
    parser.add_argument("--port", type=int, default=30000, help="first hub port to try (uses P, P+1, P+2)")
    args = parser.parse_args()
    runs = max(args.runs, 2)

    tmp = Path(tempfile.mkdtemp(prefix="localhub-bench-"))
    state_dir, config_dir = tmp / "state", tmp / "config"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text('labels = {"localhub.test" = "1"}\n')
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(config_dir)}
    instance, ok = None, False
    try:
        port = pick_hub_port(args.port)
        print(f"localhub spawn benchmark — {runs} runs each, image {IMAGE}, hub port {port}, state {state_dir}")
        t0 = time.perf_counter()
        subprocess.run(LOCALHUB + ["up", "--detach", "--state-dir", str(state_dir), "--port", str(port)],
                       env=env, check=True, capture_output=True, text=True)
        hub_startup = time.perf_counter() - t0
        client = Client(state_dir, timeout=60)
        instance = client.info()["instance"]
        print(f"hub up in {hub_startup:.2f} s at {client.url} (user {client.user}, instance {instance})")

        time.sleep(3)  # let the hub, proxy and culler settle before measuring the idle footprint
        daemon_pid = client.state.read_runtime()["daemon_pid"]
        idle_mib = print_memory("Idle hub memory (daemon and descendants, before any spawn):", process_tree(daemon_pid))

        http = httpx.Client(timeout=2)
        bare_run(http)  # untimed warm-up: page cache, docker-proxy
        bare, spawn, took = [], [], []
        print(f"\n{'run':>4}  {'bare docker s':>13}  {'localhub s':>10}  {'hub log: took s':>15}  kind")
        for i in range(runs):
            bare.append(bare_run(http))
            spawn.append(localhub_run(client, first=(i == 0)))
            took.append(hub_took(state_dir))
            kind = "create (new volume)" if i == 0 else "stop + start"
            print(f"{i + 1:>4}  {bare[-1]:13.2f}  {spawn[-1]:10.2f}  {took[-1]:15.2f}  {kind}", flush=True)

        client.stop_server(SERVER)
        time.sleep(3)
        after_mib = print_memory("Idle hub memory after the runs (server stopped):", process_tree(daemon_pid))

        bare_med, restart_med = statistics.median(bare), statistics.median(spawn[1:])
        print("\nSummary (one run, interleaved; medians)")
        for label, value in [
            ("hub start-up (localhub up --detach)", f"{hub_startup:7.2f} s"),
            ("bare docker run -> HTTP 200", f"{bare_med:7.2f} s   [{fmt(bare)}]"),
            ("localhub first spawn (create) -> 200", f"{spawn[0]:7.2f} s"),
            ("localhub restart (start) -> 200 via proxy", f"{restart_med:7.2f} s   [{fmt(spawn[1:])}]"),
            ("  of which JupyterHub spawn (hub log)", f"{statistics.median(took[1:]):7.2f} s"),
            ("RATIO localhub restart / bare docker", f"{restart_med / bare_med:7.2f} x"),
            ("ratio localhub first spawn / bare docker", f"{spawn[0] / bare_med:7.2f} x"),
            ("idle hub memory (RSS sum), fresh", f"{idle_mib:7.1f} MiB"),
            ("idle hub memory (RSS sum), after runs", f"{after_mib:7.1f} MiB"),
        ]:
            print(f"  {label:<44} {value}")
        ok = True
        return 0
    except Exception as err:
        print(f"\nbenchmark failed: {err} {getattr(err, 'stderr', '') or ''}".strip(), file=sys.stderr)
        print(f"hub log kept: {state_dir / 'logs' / 'hub.log'}", file=sys.stderr)
        return 1
    finally:
        cleanup(env, state_dir, instance or Settings(state_dir=state_dir).instance)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
