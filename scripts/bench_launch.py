"""Benchmark: a Binder launch of an already-built environment, link to `ready`, against a bare `docker run`
of the SAME environment image.

Measured in ONE run, interleaved (bare, relaunch of a stopped server, relaunch of a running server, bare, …):
only same-run ratios mean anything here.

  bare       `docker run -d` of the environment image running `jupyter server --ServerApp.token=''
             --ip=0.0.0.0` on a published 127.0.0.1 port, timed from the `docker run` call until
             GET /api/status answers 200 (polled every 50 ms).
  stopped    Client.launch(<Binder link>) while the environment's server is stopped (stopped untimed
             first), so it must start: resolve, find the image (no build), start the server, a token.
             Timed from the call to the `ready` event.
  running    the same while the server still runs (resolve, find the image, find the server, a token).

`hub log: took` is JupyterHub's own spawn time for that start; `answers` is the extra time from `ready`
until GET <server>/api/status through the proxy answers 200 (the `ready` event comes once the server has
answered through the proxy: its trace's last step).

Every launch is traced (localhub/launch_trace.py): the median of each step over the stopped-server
launches is printed, so the figures say where the time goes.

The hub is a throw-away one (tmp state and config dirs); the repository is tests/cases/dockerfile-basic
committed into a tmp git repository and launched by its encoded `git/file%3A…/HEAD` Binder link. The
first launch builds it (timed, reported apart); the second must not build ("builds during the second
launch: 0", from the daemon's builds_started).

Cleanup always: `localhub down`, then every container, volume and network labelled with the hub's
instance, and every container and image labelled with this run's `localhub.bench=<run id>` (the hub
labels what it builds and starts with it, the bare containers carry it too).

    .venv/bin/python scripts/bench_launch.py [--runs N] [--port P]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import docker
import httpx

from bench_spawn import bare_run, fmt, hub_took, pick_hub_port  # same directory: shared helpers
from localhub.client import Client
from localhub.config import Settings
from localhub.hub.server_command import server_command

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "cases" / "dockerfile-basic"
LOCALHUB = [str(Path(sys.executable).parent / "localhub")]
RUN_ID = uuid.uuid4().hex[:8]
BENCH_LABEL = f"localhub.bench={RUN_ID}"


def make_repo(tmp: Path) -> Path:
    repo = tmp / "bench-repo"
    shutil.copytree(CASE, repo, ignore=shutil.ignore_patterns("expect.toml"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhub.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhub.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)
    return repo


def launch(client: Client, link: str) -> tuple[float, dict]:
    """Seconds from Client.launch(link) until its `ready` event, and that event."""
    t0 = time.perf_counter()
    for event in client.launch(link):
        if event.get("phase") == "ready":
            return time.perf_counter() - t0, event
    raise RuntimeError("the launch ended without a ready event")


def answers_after(http: httpx.Client, client: Client, ready: dict) -> float:
    """Seconds from now until the launched server answers through the proxy with the launch's token."""
    status = client.server_url(ready["server"]) + "api/status"
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 60:
        try:
            if http.get(status, headers={"Authorization": f"token {ready['token']}"}).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{status} did not answer within 60 s of ready")


def import_seconds(image: str) -> dict[str, float]:
    """What each server's start imports inside the image, in seconds (the sum of `python3 -X importtime`'s
    top-level modules; each command stops once imported, at `--version`): the bare baseline's Jupyter Server,
    JupyterHub's plain `jupyterhub-singleuser`, and the command a hub's server runs (hub/server_start.py)."""
    commands = {"bare": ["-c", "import jupyter_server.serverapp"],
                "plain": ["-m", "jupyterhub.singleuser", "--version"],
                "localhub": [*server_command()[1:], "--version"]}
    found = {}
    for name, args in commands.items():
        out = subprocess.run(["docker", "run", "--rm", "--label", "localhub.test=1", "--label", BENCH_LABEL,
                              "--entrypoint", "python3", image, "-X", "importtime", *args],
                             capture_output=True, text=True).stderr
        found[name] = sum(int(line.split("|")[1]) for line in out.splitlines()
                          if line.startswith("import time:") and line.split("|")[2].startswith(" ") and
                          not line.split("|")[2].startswith("  ") and "self [us]" not in line) / 1e6
    return found


def cleanup(env: dict, state_dir: Path, instance: str | None) -> None:
    subprocess.run(LOCALHUB + ["down", "--state-dir", str(state_dir)], env=env, capture_output=True, timeout=120)
    engine = docker.from_env()
    labels = [BENCH_LABEL] + ([f"localhub.instance={instance}"] if instance else [])
    for label in labels:
        for c in engine.containers.list(all=True, filters={"label": label}):
            c.remove(force=True, v=True)
        for v in engine.volumes.list(filters={"label": label}):
            v.remove(force=True)
        for n in engine.networks.list(filters={"label": label}):
            n.remove()
    # the environment image (and any untagged earlier build of it): newest first, children before parents
    images = engine.images.list(all=True, filters={"label": BENCH_LABEL})
    for image in sorted(images, key=lambda i: i.attrs["Created"], reverse=True):
        try:
            engine.images.remove(image.id, force=True)
        except docker.errors.APIError as err:
            print(f"could not remove image {image.id[:19]}: {err}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind (default 5)")
    parser.add_argument("--port", type=int, default=30300, help="first hub port to try (uses P, P+1, P+2)")
    args = parser.parse_args()
    runs = max(args.runs, 2)

    tmp = Path(tempfile.mkdtemp(prefix="localhub-bench-launch-"))
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
        print(f"localhub launch benchmark — {runs} runs each, run {RUN_ID}, hub port {port}, state {state_dir}")
        print(f"link: {link}")
        subprocess.run(LOCALHUB + ["up", "--detach", "--state-dir", str(state_dir), "--port", str(port)],
                       env=env, check=True, capture_output=True, text=True)
        client = Client(state_dir, timeout=60)
        instance = client.info()["instance"]

        builds0 = client.info()["builds_started"]
        first_s, first = launch(client, link)
        builds1 = client.info()["builds_started"]
        image, server = first["imageName"], first["server"]
        print(f"first launch (build + new server): {first_s:.2f} s, {builds1 - builds0} build(s), "
              f"image {image}, server '{server}'")
        second_s, _ = launch(client, link)
        print(f"second launch (server running): {second_s:.2f} s")
        print(f"builds during the second launch: {client.info()['builds_started'] - builds1}")

        http = httpx.Client(timeout=2)
        bare_run(http, image, BENCH_LABEL)  # untimed warm-up: page cache, docker-proxy
        bare, stopped, running, answers, took, traces = [], [], [], [], [], []
        print(f"\n{'run':>4}  {'bare docker s':>13}  {'stopped s':>9}  {'hub log: took s':>15}  {'answers +s':>10}"
              f"  {'running s':>9}")
        for i in range(runs):
            bare.append(bare_run(http, image, BENCH_LABEL))
            client.stop_server(server)  # untimed: waits until the hub reports it stopped
            seconds, ready = launch(client, link)
            stopped.append(seconds)
            traces.append(ready.get("trace") or {"steps": []})
            took.append(hub_took(state_dir, server))
            answers.append(answers_after(http, client, ready))
            running.append(launch(client, link)[0])
            print(f"{i + 1:>4}  {bare[-1]:13.2f}  {stopped[-1]:9.2f}  {took[-1]:15.2f}  {answers[-1]:10.2f}"
                  f"  {running[-1]:9.2f}", flush=True)
        builds_end = client.info()["builds_started"]
        imports = import_seconds(image)

        bare_med, stopped_med, running_med = (statistics.median(v) for v in (bare, stopped, running))
        print("\nWhere a launch of a stopped server spends its time (median of each step, launch trace)")
        for step in dict.fromkeys(s["step"] for t in traces for s in t["steps"]):
            values = [s["seconds"] for t in traces for s in t["steps"] if s["step"] == step]
            print(f"  {step:<44} {statistics.median(values):7.3f} s   [{fmt(values)}]")
        print("\nSummary (one run, interleaved; medians)")
        for label, value in [
            ("bare docker run of the image -> HTTP 200", f"{bare_med:7.2f} s   [{fmt(bare)}]"),
            ("launch, server stopped -> ready", f"{stopped_med:7.2f} s   [{fmt(stopped)}]"),
            ("  of which JupyterHub spawn (hub log)", f"{statistics.median(took):7.2f} s   [{fmt(took)}]"),
            ("  then ready -> answers via proxy", f"{statistics.median(answers):7.2f} s   [{fmt(answers)}]"),
            ("launch, server running -> ready", f"{running_med:7.2f} s   [{fmt(running)}]"),
            ("RATIO launch (server stopped) / bare docker", f"{stopped_med / bare_med:7.2f} x"),
            ("RATIO worst of runs: stopped / bare docker", f"{max(stopped) / max(bare):7.2f} x"),
            ("ratio launch (server running) / bare docker", f"{running_med / bare_med:7.2f} x"),
            ("first launch incl. build (once)", f"{first_s:7.2f} s"),
            ("imports in the image: bare's jupyter_server", f"{imports['bare']:7.2f} s"),
            ("  plain jupyterhub-singleuser", f"{imports['plain']:7.2f} s"),
            ("  the hub's server command (server_start.py)", f"{imports['localhub']:7.2f} s"),
            ("builds during all relaunches", f"{builds_end - builds1:7d}"),
        ]:
            print(f"  {label:<44} {value}")
        ok = builds_end == builds1
        return 0 if ok else 1
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
