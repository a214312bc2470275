"""Benchmark: a paused server's resume by the first request through the hub's proxy, against a bare cold
`docker run` of the SAME image to HTTP 200 (issue 11: resume to HTTP 200 ≤ 0.1× a bare cold start).

Measured in ONE run, interleaved (bare, resume, bare, resume, …): only same-run ratios mean anything here.

  bare     `docker run -d` of localhub/singleuser:latest running `jupyter server` on a free 127.0.0.1 port,
           timed from the `docker run` call until GET /api/status answers 200 (bench_spawn.bare_run).
  resume   a throw-away hub with `pause_after = 2`: its one server is left idle until the engine reports its
           container paused (untimed), then ONE GET /user/<user>/<server>/api/status through the proxy (the
           daemon's token) is timed until its 200: the proxy resumes the container and forwards.
  unpause  for scale, the engine's own `docker unpause` of that container, timed apart (paused again first).

Cleanup always: `localhub down`, then everything labelled with the hub's instance and this run's bare
containers (bench_spawn.cleanup).

    .venv/bin/python scripts/bench_resume.py [--runs N] [--port P]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import httpx

from bench_spawn import IMAGE, LOCALHUB, bare_run, cleanup, fmt, pick_hub_port  # same directory
from localhub.client import Client
from localhub.config import Settings

SERVER = "resumed"
PAUSE_AFTER = 2


def wait_paused(container, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "paused":
            return
        time.sleep(0.2)
    raise RuntimeError(f"the idle server was not paused within {timeout:.0f} s")


def resume_through_proxy(http: httpx.Client, url: str) -> float:
    t0 = time.perf_counter()
    answer = http.get(url)
    elapsed = time.perf_counter() - t0
    if answer.status_code != 200:
        raise RuntimeError(f"the resumed server answered {answer.status_code}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind (default 5)")
    parser.add_argument("--port", type=int, default=30300, help="first hub port to try (uses P to P+3)")
    args = parser.parse_args()
    runs = max(args.runs, 2)

    tmp = Path(tempfile.mkdtemp(prefix="localhub-bench-resume-"))
    state_dir, config_dir = tmp / "state", tmp / "config"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text(f'pause_after = {PAUSE_AFTER}\nlabels = {{"localhub.test" = "1"}}\n')
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(config_dir)}
    instance, ok = None, False
    engine = docker.from_env()
    try:
        port = pick_hub_port(args.port)
        print(f"localhub resume benchmark — {runs} runs each, image {IMAGE}, hub port {port}")
        subprocess.run(LOCALHUB + ["up", "--detach", "--state-dir", str(state_dir), "--port", str(port)],
                       env=env, check=True, capture_output=True, text=True)
        client = Client(state_dir, timeout=60)
        instance = client.info()["instance"]
        for _event in client.create_server(SERVER):
            pass
        container = engine.containers.get(f"localhub-{instance}-{client.user}--{SERVER}")
        token = (state_dir / "secrets" / "api-token").read_text().strip()
        url = f"{client.url}/user/{client.user}/{SERVER}/api/status"
        resumer = httpx.Client(timeout=30, headers={"Authorization": f"token {token}"})

        http = httpx.Client(timeout=2)
        bare_run(http)  # untimed warm-up: page cache, docker-proxy
        bare, resume, unpause = [], [], []
        print(f"\n{'run':>4}  {'bare docker s':>13}  {'resume s':>9}  {'unpause s':>9}")
        for i in range(runs):
            bare.append(bare_run(http))
            wait_paused(container)
            resume.append(resume_through_proxy(resumer, url))
            container.reload()
            assert container.status == "running", container.status
            container.pause()  # untimed; the engine's own unpause, for scale (the daemon sees it resumed)
            t0 = time.perf_counter()
            container.unpause()
            unpause.append(time.perf_counter() - t0)
            print(f"{i + 1:>4}  {bare[-1]:13.2f}  {resume[-1]:9.3f}  {unpause[-1]:9.3f}", flush=True)

        bare_med, resume_med = statistics.median(bare), statistics.median(resume)
        print("\nSummary (one run, interleaved; medians)")
        for label, value in [
            ("bare cold docker run -> HTTP 200", f"{bare_med:7.3f} s   [{fmt(bare)}]"),
            ("paused server: request through proxy -> 200", f"{resume_med:7.3f} s   [{fmt(resume)}]"),
            ("  the engine's unpause alone", f"{statistics.median(unpause):7.3f} s"),
            ("RATIO resume / bare cold start (median)", f"{resume_med / bare_med:7.3f} x   (goal <= 0.1)"),
            ("ratio resume / bare cold start (worst)", f"{max(resume) / min(bare):7.3f} x"),
        ]:
            print(f"  {label:<46} {value}")
        ok = True
        return 0
    except Exception as err:
        print(f"\nbenchmark failed: {err} {getattr(err, 'stderr', '') or ''}".strip(), file=sys.stderr)
        print(f"hub log kept: {state_dir / 'logs' / 'hub.log'}", file=sys.stderr)
        return 1
    finally:
        engine.close()
        cleanup(env, state_dir, instance or Settings(state_dir=state_dir).instance)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
