"""Every benchmark of issue 11 in one command, and one table that sets each goal beside its figure.

Each runs in turn (its own throw-away hubs, its own baseline measured in the same run) and its full report is kept:

  bench_launch   restart of a stopped server vs a bare `docker run` of the same image; the launch trace
  bench_resume   a paused server's resume through the proxy vs a bare cold start
  bench_memory   the idle hub's RSS and PSS, process by process
  bench_build    first launch of a new commit vs repo2docker's own build + a bare start; five at once
  bench_fill     an empty hub vs a full desktop: cached launch, `servers ls`, a TUI refresh; 20 launches at once
  bench_pool     a home's return from a lab peer vs `tar | nc` over the same link (needs root: namespaces)

Reports go to --logs (a new folder by default), one file per benchmark; a benchmark that fails is said in a
sentence and the others go on. Only same-run ratios mean much on a busy machine. --quick makes every benchmark
smaller (3 runs; a desktop of 30 servers × 50 MB; 150 MB homes) for a look in about ten minutes; the default sizes are
the issue's (30 servers × 500 MB need about 17 GB of disk).

    .venv/bin/python scripts/bench_all.py [--quick] [--only NAME ...] [--logs DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
T0 = time.monotonic()

# name -> (arguments: default, quick; the line its report starts with)
BENCHES = {
    "bench_launch": (([], ["--runs", "3"]), r"^Where a launch of a stopped server"),
    "bench_resume": (([], ["--runs", "3"]), r"^Summary"),
    "bench_memory": ((["--servers", "2", "--runs", "3"], ["--servers", "2", "--runs", "1"]), r"^this checkout: medians"),
    "bench_build": (([], ["--runs", "3"]), r"^Where a first launch"),
    "bench_fill": (([], ["--runs", "3", "--home-mb", "50"]), r"^Summary"),
    "bench_pool": ((["--only-home", "--runs", "5", "--size", "300"], ["--only-home", "--runs", "3", "--size", "150"]),
                   r"^3\. Home return"),
}

# (benchmark, what the issue asks, pattern of the figure in its report, goal test on the figure, unit)
GOALS = [
    ("bench_launch", "restart of a stopped server / bare docker run (median)",
     r"RATIO launch \(server stopped\) / bare docker\s+([0-9.]+) x", lambda v: v <= 0.9, "≤ 0.9 x"),
    ("bench_launch", "the same, worst run / worst bare run",
     r"RATIO worst of runs: stopped / bare docker\s+([0-9.]+) x", lambda v: v <= 1.0, "≤ 1.0 x"),
    ("bench_resume", "resume of a paused server / bare cold start",
     r"RATIO resume / bare cold start \(median\)\s+([0-9.]+) x", lambda v: v <= 0.1, "≤ 0.1 x"),
    ("bench_memory", "idle hub RSS, every process (MiB)",
     r"^\s+([0-9.]+)\s+[0-9.]+\s+total", lambda v: v <= 200, "≤ 200 MiB"),
    ("bench_build", "first launch of a new commit - (repo2docker build + bare start) (s)",
     r"DIFF \(b\) - \(a\)\s+\(goal <= \+0\.20 s\)\s+([-+]?[0-9.]+) s", lambda v: v <= 0.2, "≤ +0.20 s"),
    ("bench_build", "five concurrent launches of one new commit: builds",
     r"\(c\) five concurrent: builds \(goal 1\)\s+([0-9]+)", lambda v: v == 1, "1"),
    ("bench_fill", "full desktop / empty hub: cached launch",
     r"^\s+launch \(s\)\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+) x", lambda v: v <= 1.1, "≤ 1.1 x"),
    ("bench_fill", "full desktop / empty hub: servers ls",
     r"^\s+servers ls \(s\)\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+) x", lambda v: v <= 1.1, "≤ 1.1 x"),
    ("bench_fill", "full desktop / empty hub: TUI refresh",
     r"^\s+TUI refresh \(ms\)\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+) x", lambda v: v <= 1.1, "≤ 1.1 x"),
    ("bench_fill", "20 concurrent launches of 20 environments: not ready",
     r"20 concurrent launches: ([0-9]+)/([0-9]+) ready", None, "0"),
    ("bench_pool", "home return / tar | nc, unshaped veth (transfer)",
     r"over the unshaped[^\n]*\n(?:.*\n)*?\s+RATIO transfer rate / baseline rate \(run by run\)\s+([0-9.]+) x",
     lambda v: v >= 0.8, "≥ 0.8 x"),
    ("bench_pool", "home return / tar | nc, link shaped to 1 Gbit/s (transfer)",
     r"over the link shaped to[^\n]*\n(?:.*\n)*?\s+RATIO transfer rate / baseline rate \(run by run\)\s+([0-9.]+) x",
     lambda v: v >= 0.8, "≥ 0.8 x"),
]


def say(message: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f} s] {message}", flush=True)


def run(name: str, args: list[str], log: Path) -> tuple[bool, str]:
    """One benchmark, its output into `log` as it comes; (finished well, its output)."""
    command = [sys.executable, str(HERE / f"{name}.py"), *args]
    began = time.monotonic()
    say(f"{' '.join([name, *args])}: running (its output: {log})")
    with open(log, "w") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=HERE.parent).returncode
    text = log.read_text(errors="replace")
    say(f"{name}: {'done' if code == 0 else f'failed (exit {code})'} in {time.monotonic() - began:.0f} s")
    return code == 0, text


def report_of(text: str, start: str) -> str:
    found = re.search(start, text, re.MULTILINE)
    return text[found.start():].rstrip() if found else "(no report: see its log)"


def goal_rows(outputs: dict[str, str]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, what, pattern, met, goal in GOALS:
        if name not in outputs:
            continue
        found = re.search(pattern, outputs[name], re.MULTILINE)
        if found is None:
            rows.append((what, "?", goal, "no figure"))
        elif met is None:  # ready out of launched: how many were not
            missing = int(found.group(2)) - int(found.group(1))
            rows.append((what, str(missing), goal, "met" if missing == 0 else "NOT met"))
        else:
            value = float(found.group(1))
            rows.append((what, found.group(1), goal, "met" if met(value) else "NOT met"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a look (about ten minutes)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), metavar="NAME",
                        help="these benchmarks only: " + ", ".join(BENCHES))
    parser.add_argument("--logs", type=Path, help="where the reports go (default: a new folder under /tmp)")
    args = parser.parse_args()
    names = [name for name in BENCHES if not args.only or name in args.only]
    if "bench_pool" in names and os.geteuid() != 0:
        print("bench_pool builds network namespaces and needs root: run this as root, or leave it out with "
              "--only.", file=sys.stderr)
        return 2
    logs = args.logs or Path(tempfile.mkdtemp(prefix="localhub-bench-all-"))
    logs.mkdir(parents=True, exist_ok=True)
    say(f"issue 11's benchmarks, {'quick' if args.quick else 'full'} sizes: {', '.join(names)}; reports in {logs}; "
        f"load {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    outputs, failed = {}, []
    for name in names:
        (default, quick), _ = BENCHES[name]
        ok, text = run(name, quick if args.quick else default, logs / f"{name}.log")
        outputs[name] = text
        if not ok:
            failed.append(name)
    for name in names:
        print(f"\n=== {name}\n{report_of(outputs[name], BENCHES[name][1])}")
    print(f"\nIssue 11's goals (one run; load {' '.join(f'{v:.1f}' for v in os.getloadavg())} at the end)")
    for what, value, goal, verdict in goal_rows(outputs):
        print(f"  {what:<70} {value:>8}   goal {goal:<10} {verdict}")
    if failed:
        print(f"\n{len(failed)} benchmark(s) failed: {', '.join(failed)} (their logs are in {logs}).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
