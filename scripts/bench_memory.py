"""Benchmark: the idle hub's memory — RSS and PSS of every process localhub runs (the daemon, JupyterHub, its
proxy, and anything else they started), against issue 11's goal of 200 MiB RSS in all.

A throw-away hub (`localhub up --detach`, tmp state and config dirs, everything labelled localhub.test=1) with
no server running is left to settle, then measured from /proc; `--servers N` first starts and stops N named
servers of the default image, so the figures include what a used hub keeps. Containers (servers, storage
meters) are not counted: they are the servers' own.

`--runs N` starts N hubs one after another and prints each process's median. `--baseline DIR` compares with
another version of localhub (a checkout, e.g. `git worktree add /tmp/base main`): hubs of the baseline and of this
checkout are started in turn (baseline, this, baseline, this…: the machine's load falls on both alike), N of each,
and the medians of both are printed with their ratio, and the load average they ran under.

    .venv/bin/python scripts/bench_memory.py [--settle SECONDS] [--servers N] [--runs N] [--baseline DIR] [--port P]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_spawn import LOCALHUB, cleanup, pick_hub_port, print_memory, process_tree  # same directory
from localhub.client import Client
from localhub.config import Settings

import subprocess

GOAL_MIB = 200
MIB = 1024 * 1024
# what each process of the tree is, from its command line
ROLES = (("localhub.hub.proxy", "proxy"), ("localhub.hub.run", "JupyterHub"), ("localhub up", "daemon"))


def role(command: str) -> str:
    return next((name for key, name in ROLES if key in command), command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=20, help="seconds to wait once the hub answers")
    parser.add_argument("--servers", type=int, default=0, help="servers to start and stop first")
    parser.add_argument("--runs", type=int, default=1, help="hubs to start one after another (medians)")
    parser.add_argument("--baseline", type=Path, help="a checkout of another localhub version to compare with")
    parser.add_argument("--port", type=int, default=30600, help="first hub port to try (uses P..P+3)")
    args = parser.parse_args()

    versions = ([("baseline", args.baseline.resolve())] if args.baseline else []) + [("this checkout", None)]
    runs: dict[str, list] = {name: [] for name, _ in versions}
    loads = []
    for _ in range(max(args.runs, 1)):
        for name, checkout in versions:  # interleaved
            loads.append(os.getloadavg()[0])
            print(f"\n--- {name}{f' ({checkout})' if checkout else ''}, load average {loads[-1]:.1f}")
            rows = measure(args, checkout)
            if rows is None:
                return 1
            runs[name].append(rows)
    totals = {name: medians(name, rows) for name, rows in runs.items()}
    print(f"\n  load average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f}")
    if args.baseline:
        print(f"  RATIO idle hub RSS, this checkout / baseline  {totals['this checkout'] / totals['baseline']:5.2f} x")
    print(f"  RATIO idle hub RSS / goal ({GOAL_MIB} MiB)  {totals['this checkout'] / GOAL_MIB:5.2f} x")
    return 0


def medians(version: str, runs: list) -> float:
    """Print each process's median RSS and PSS over the runs of one version; returns the median total RSS."""
    print(f"\n{version}: medians of {len(runs)} run(s)")
    print(f"  {'RSS MiB':>8}  {'PSS MiB':>8}  PROCESS")
    order = ("daemon", "JupyterHub", "proxy")  # the proxy: a process of its own before it ran inside JupyterHub
    names = sorted({role(r[3]) for rows in runs for r in rows}, key=lambda n: (order.index(n) if n in order else 3, n))
    for name in names:
        mine = [[r for r in rows if role(r[3]) == name] for rows in runs]
        rss = statistics.median(sum(r[1] for r in m) / MIB for m in mine)
        pss = statistics.median(sum(r[2] for r in m) / MIB for m in mine)
        print(f"  {rss:8.1f}  {pss:8.1f}  {name}")
    total = statistics.median(sum(r[1] for r in rows) / MIB for rows in runs)
    print(f"  {total:8.1f}  {statistics.median(sum(r[2] for r in rows) / MIB for rows in runs):8.1f}  total")
    return total


def measure(args, checkout: Path | None = None) -> list | None:
    """Start a throw-away hub, let it settle, return its processes' (pid, rss, pss, command); None if it failed."""
    tmp = Path(tempfile.mkdtemp(prefix="localhub-bench-memory-"))
    state_dir, config_dir = tmp / "state", tmp / "config"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text('labels = {"localhub.test" = "1"}\n')
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(config_dir)}
    if checkout:  # the daemon and JupyterHub import localhub from that checkout (python -m: its directory first)
        env["PYTHONPATH"] = str(checkout)
    instance = None
    try:
        port = pick_hub_port(args.port)
        subprocess.run(LOCALHUB + ["up", "--detach", "--state-dir", str(state_dir), "--port", str(port)],
                       env=env, check=True, capture_output=True, text=True, cwd=checkout)
        client = Client(state_dir, timeout=60)
        instance = client.info()["instance"]
        for i in range(args.servers):
            list(client.create_server(f"mem-{i}"))
            client.stop_server(f"mem-{i}")
        time.sleep(args.settle)
        daemon_pid = client.runtime["daemon_pid"]
        rows = process_tree(daemon_pid)
        print_memory(f"Idle hub memory, {args.settle:g} s after start"
                     f"{f', {args.servers} server(s) started and stopped' if args.servers else ''}:", rows)
        return rows
    except Exception as err:
        print(f"benchmark failed: {err} {getattr(err, 'stderr', '') or ''}".strip(), file=sys.stderr)
        return None
    finally:
        cleanup(env, state_dir, instance or Settings(state_dir=state_dir).instance)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
