"""Benchmark: does a build through localhub add anything to repo2docker's own build time?

Measured in ONE run, interleaved (baseline, localhub, baseline, localhub…); every run builds a NEW commit of a
small Dockerfile repository (tests/cases/dockerfile-basic in a tmp git repository, one more commit per run), so
no image is reused, while the base layers (localhub/singleuser:test) are shared by both sides, as they would be.

  (a) baseline   `repo2docker --no-run` of the new commit with the engine plugin localhub uses (`--engine
                 localhub`, localhub's own repo2docker config, user 1000/jovyan, `--ref COMMIT file://REPO`),
                 timed from the call until it exits; then a bare `docker run` of the image it built running
                 `jupyter server`, timed until GET /api/status answers 200 (polled every 20 ms). Baseline = build + bare start.
  (b) localhub   `localhub launch --json <Binder link of the repo at HEAD>` (HEAD is the new commit), timed from
                 the call until the launched server answers GET …/api/status with 200 through the hub's proxy
                 (the `ready` event comes once it does; the poll after it confirms). The launch's own trace
                 (resolve, build, start container, server ready, route added, first response) is printed per
                 step. Its server is deleted (untimed) after each run, so every launch is a first launch.
  Goal: (b) <= (a) + 0.2 s. Printed: the ratio (b)/(a) and (b) - (a) against the +0.2 s.

  (c) five concurrent `localhub launch --json` of ONE new commit: how many builds the daemon ran (must be 1) and
      the median time to HTTP 200 through the hub. BinderHub's local mode cannot be the baseline on this machine:
      the package index has only `binderhub` 0.1.0 (2017), which builds in Kubernetes pods (it imports the
      `kubernetes` client and has no local build class; the local mode came later and is not published as a
      package). The same-run baseline is instead (b): single launches of new commits run one after another. The
      ratio median (c) / median (b) says what launching together with four others costs each user.

The load average (1 min) is printed with every figure: five people share two cores.

Cleanup always: `localhub down`, then everything labelled with the hub's instance or this run's
`localhub.bench=<run id>` (the baseline's images carry it too).

    .venv/bin/python scripts/bench_build.py [--runs N] [--port P]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx

import bench_launch  # same directory: shared helpers
from bench_spawn import fmt, pick_hub_port
from localhub.client import Client
from localhub.config import Settings
from localhub.images.build_process import REPO2DOCKER_CONFIG, USER_ID, USER_NAME

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "cases" / "dockerfile-basic"
BIN = Path(sys.executable).parent
LOCALHUB = [str(BIN / "localhub")]
RUN_ID = uuid.uuid4().hex[:8]
BENCH_LABEL = f"localhub.bench={RUN_ID}"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhub.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhub.invalid"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=GIT_ENV).stdout.strip()


def make_repo(tmp: Path) -> Path:
    repo = tmp / "bench-repo"
    shutil.copytree(CASE, repo, ignore=shutil.ignore_patterns("expect.toml"))
    git(repo, "init", "-q", "-b", "main")
    new_commit(repo, "first")
    return repo


def new_commit(repo: Path, what: str) -> str:
    """A new commit (a file that changes every time): its image can only be built afresh."""
    (repo / "run.txt").write_text(f"{what} {uuid.uuid4().hex}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", what)
    return git(repo, "rev-parse", "HEAD")


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def repo2docker_build(repo: Path, commit: str, n: int) -> tuple[float, str]:
    """repo2docker's own build of `commit`, with localhub's engine and config: (seconds, image)."""
    image = f"localhub-bench-r2d/{RUN_ID}:{n}"
    cmd = [str(BIN / "repo2docker"), "--config", str(REPO2DOCKER_CONFIG), "--engine", "localhub", "--no-run",
           "--user-id", str(USER_ID), "--user-name", USER_NAME, "--image-name", image,
           "--label", "localhub.test=1", "--label", BENCH_LABEL, "--ref", commit, f"file://{repo}"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=repo.parent)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"repo2docker failed: {done.stderr[-2000:]}")
    return seconds, image


def bare_start(http: httpx.Client, image: str) -> tuple[float, float]:
    """A bare container of `image` running `jupyter server`: seconds from `docker run -d` until it returned (the
    container created and started), and until GET /api/status answers 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = ["docker", "run", "-d", "--label", "localhub.test=1", "--label", BENCH_LABEL,
           "-p", f"127.0.0.1:{port}:8888", image,
           "jupyter", "server", "--ServerApp.token=", "--ip=0.0.0.0", "--port=8888", "--no-browser"]
    t0 = time.perf_counter()
    cid = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    started = time.perf_counter() - t0
    try:
        while time.perf_counter() - t0 < 120:
            try:
                if http.get(f"http://127.0.0.1:{port}/api/status").status_code == 200:
                    return started, time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"bare container {cid[:12]} did not answer within 120 s")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)


def cli_launch(link: str, env: dict, state_dir: Path) -> dict:
    """`localhub launch --json LINK`: seconds until its `ready` line, that event, and when `built` came."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(LOCALHUB + ["launch", "--json", "--state-dir", str(state_dir), link], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found = {"first_s": None, "built_s": None, "ready_s": None, "ready": None}
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if found["first_s"] is None:
            found["first_s"] = time.perf_counter() - t0
        if event.get("phase") == "built":
            found["built_s"] = time.perf_counter() - t0
        if event.get("phase") == "ready":
            found["ready_s"] = time.perf_counter() - t0
            found["ready"] = event
    err = proc.stderr.read()
    proc.wait()
    if found["ready"] is None:
        raise RuntimeError(f"localhub launch ended without ready (exit {proc.returncode}): {err.strip()[-2000:]}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of (a) and (b) each (default 5)")
    parser.add_argument("--port", type=int, default=30400, help="first hub port to try (uses P, P+1, P+2)")
    parser.add_argument("--keep", action="store_true", help="keep the hub's state dir (its logs) after a good run")
    args = parser.parse_args()
    runs = max(args.runs, 2)

    tmp = Path(tempfile.mkdtemp(prefix="localhub-bench-build-"))
    state_dir, config_dir = tmp / "state", tmp / "config"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text(
        f'labels = {{"localhub.test" = "1", "localhub.bench" = "{RUN_ID}"}}\n')
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(config_dir)}
    instance, ok = None, False
    try:
        repo = make_repo(tmp)
        port = pick_hub_port(args.port)
        link = f"http://127.0.0.1:{port}/v2/git/{quote('file://' + str(repo), safe='')}/HEAD"
        print(f"localhub build benchmark — {runs} runs each, run {RUN_ID}, hub port {port}, load {load()}")
        print(f"link: {link}")
        subprocess.run(LOCALHUB + ["up", "--detach", "--state-dir", str(state_dir), "--port", str(port)],
                       env=env, check=True, capture_output=True, text=True)
        client = Client(state_dir, timeout=120)
        instance = client.info()["instance"]
        http = httpx.Client(timeout=2)

        # untimed warm-up of both paths: page cache, the hub's first server, repo2docker's imports
        repo2docker_build(repo, new_commit(repo, "warm-up a"), 0)
        new_commit(repo, "warm-up b")
        warm = cli_launch(link, env, state_dir)
        client.delete_server(warm["ready"]["server"])

        base, build, start, bare_created, hub, traces, loads, first, r2d_up = [], [], [], [], [], [], [], [], []
        print(f"\n{'run':>4}  {'r2d build s':>11}  {'+ bare start s':>14}  {'= baseline s':>12}  {'localhub s':>10}"
              f"  {'of which build s':>16}  {'diff s':>7}  {'load':>5}")
        for i in range(runs):
            seconds, image = repo2docker_build(repo, new_commit(repo, f"run {i} a"), i + 1)
            created, started = bare_start(http, image)
            bare_created.append(created)
            build.append(seconds)
            start.append(started)
            base.append(seconds + started)
            new_commit(repo, f"run {i} b")
            got = cli_launch(link, env, state_dir)
            hub.append(got["ready_s"] + bench_launch.answers_after(http, client, got["ready"]))
            first.append(got["first_s"])
            t_up = time.perf_counter()
            subprocess.run([str(BIN / "repo2docker"), "--version"], capture_output=True)
            r2d_up.append(time.perf_counter() - t_up)
            trace = got["ready"].get("trace") or {"steps": []}
            traces.append(trace)
            built = sum(s["seconds"] for s in trace["steps"] if s["step"] == "build")
            loads.append(float(load()))
            print(f"{i + 1:>4}  {build[-1]:11.2f}  {start[-1]:14.2f}  {base[-1]:12.2f}  {hub[-1]:10.2f}"
                  f"  {built:16.2f}  {hub[-1] - base[-1]:+7.2f}  {loads[-1]:5.2f}", flush=True)
            client.delete_server(got["ready"]["server"])  # untimed: the next launch is a first launch too

        built_s = [sum(s["seconds"] for s in t["steps"] if s["step"] in ("resolve", "build")) for t in traces]
        started_s = [sum(s["seconds"] for s in t["steps"] if s["step"] not in ("resolve", "build")) for t in traces]
        print("\nWhere a first launch of a new commit spends its time (median of each step, launch trace)")
        for step in dict.fromkeys(s["step"] for t in traces for s in t["steps"]):
            values = [s["seconds"] for t in traces for s in t["steps"] if s["step"] == step]
            print(f"  {step:<20} {statistics.median(values):7.3f} s   [{fmt(values)}]")
        print(f"  {'(bare: docker run -d returned)':<20} {statistics.median(bare_created):7.3f} s   [{fmt(bare_created)}]"
              "   <- compare with 'start container'")
        cli_gap = [h - t["total"] for h, t in zip(hub, traces)]
        print(f"  {'(outside the trace: the CLI, its request, the HTTP check)':<20} {statistics.median(cli_gap):7.3f} s"
              f"   [{fmt(cli_gap)}]")
        print(f"  {'  of which CLI started -> first event':<20} {statistics.median(first):7.3f} s   [{fmt(first)}]")
        print(f"  {'  (repo2docker --version, for its start-up)':<20} {statistics.median(r2d_up):7.3f} s   [{fmt(r2d_up)}]")

        # (c) five concurrent launches of one new commit
        new_commit(repo, "concurrent")
        builds0 = client.info()["builds_started"]
        results: list[dict | Exception] = [None] * 5

        def one(k: int) -> None:
            try:
                got = cli_launch(link, env, state_dir)
                got["http_s"] = got["ready_s"] + bench_launch.answers_after(httpx.Client(timeout=2), client,
                                                                            got["ready"])
                results[k] = got
            except Exception as err:  # reported below
                results[k] = err

        load_c = load()
        threads = [threading.Thread(target=one, args=(k,)) for k in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        builds_c = client.info()["builds_started"] - builds0
        failed = [r for r in results if isinstance(r, Exception)]
        conc = [r["http_s"] for r in results if isinstance(r, dict)]
        load_c = f"{load_c} → {load()}"
        print(f"\nfive concurrent launches of one new commit: {len(conc)} ready, {len(failed)} failed, "
              f"{builds_c} build(s), to ready [{fmt(conc)}] s, load {load_c}")
        for err in failed:
            print(f"  failed: {err}")

        med = statistics.median
        print(f"\nSummary (one run, interleaved; medians; load average 1 min during the runs "
              f"{min(loads):.2f}–{max(loads):.2f})")
        for label, value in [
            ("(a) repo2docker build (same engine)", f"{med(build):7.2f} s   [{fmt(build)}]"),
            ("    + bare docker run -> HTTP 200", f"{med(start):7.2f} s   [{fmt(start)}]"),
            ("    = baseline", f"{med(base):7.2f} s   [{fmt(base)}]"),
            ("(b) localhub launch -> HTTP 200 via hub", f"{med(hub):7.2f} s   [{fmt(hub)}]"),
            ("RATIO (b) / (a)", f"{med(hub) / med(base):7.2f} x"),
            ("DIFF (b) - (a)  (goal <= +0.20 s)", f"{med(hub) - med(base):+7.2f} s   "
                                                  f"[{fmt([h - b for h, b in zip(hub, base)])}]"),
            ("  of which in the build step", f"{med(built_s) - med(build):+7.2f} s   (trace 'build' - repo2docker)"),
            ("  of which in the start", f"{med(started_s) - med(start):+7.2f} s   (trace after 'build' - bare start)"),
            ("  of which outside the trace", f"{med(cli_gap):+7.2f} s   (CLI, its request, the HTTP check)"),
            ("(c) five concurrent: builds (goal 1)", f"{builds_c:7d}"),
            ("(c) five concurrent: median to ready", f"{med(conc) if conc else float('nan'):7.2f} s   (load {load_c})"),
            ("RATIO (c) / (b) one launch alone", f"{med(conc) / med(hub) if conc else float('nan'):7.2f} x"),
        ]:
            print(f"  {label:<42} {value}")
        ok = builds_c == 1 and not failed
        return 0 if ok else 1
    except Exception as err:
        print(f"\nbenchmark failed: {err} {getattr(err, 'stderr', '') or ''}".strip(), file=sys.stderr)
        print(f"hub log kept: {state_dir / 'logs' / 'hub.log'}", file=sys.stderr)
        return 1
    finally:
        bench_launch.BENCH_LABEL = BENCH_LABEL  # its cleanup removes what carries this run's label
        bench_launch.cleanup(env, state_dir, instance or Settings(state_dir=state_dir).instance)
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"hub state and logs kept: {state_dir}")


if __name__ == "__main__":
    sys.exit(main())
