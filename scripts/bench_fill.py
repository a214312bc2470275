"""Benchmark: does the hub stay fast as the desktop fills? Issue 11: with 30 stopped servers holding 500 MB each
in many small files and 20 built environments, a cached launch, `localhub servers ls` and a TUI refresh each
take ≤ 1.1× their time on an empty hub; and 20 concurrent launches of 20 different built environments all
succeed.

One throw-away hub (tmp state and config dirs, max_named_servers raised), measured twice in ONE run:

  empty    one environment built (tests/cases/dockerfile-basic committed into a tmp git repository), its
           server stopped, nothing else.
  filled   then 19 more environments (the same case, each repository differing by a file, so each builds its
           own image), each launched once and its server stopped; and --servers named servers (default 30),
           each created, filled through `docker exec` as its user with --home-mb MB (default 500) of
           --file-kib KiB files (default 4: many small files, as a home holds), then stopped.

In each phase, --runs rounds, interleaved (launch, servers ls, TUI refresh, launch, …), medians compared:

  launch        Client.launch(<Binder link>) of the first environment while its server is stopped (stopped
                untimed first), timed from the call to the `ready` event (bench_launch.py's measure).
  servers ls    `localhub servers ls` as a user types it (a new process: its start-up is in the figure).
  TUI refresh   one poll of the real TUI against the real hub, as its poll worker makes it (client.servers()
                and client.environments()), then handing the data to the app (`_fresh`: servers table updated
                by key, environments tab, hub bar) and composing the next frame (headless Textual, Pilot,
                the frame composed at once as bench_tui.py does). `info` is left out: asked once in ten polls.
                Its three parts are printed too (servers(), environments(), display), to say where it grows.

Last, every environment's server stopped, all 20 environments are launched at once (one thread each):
how many reached `ready`, and the time until the last did.

Disk: the homes need --servers × --home-mb (15 GB by default) plus the images; the script checks the engine's
free space first and refuses with a sentence if it is short. A quick run: --servers 5 --home-mb 50 --envs 5.

Cleanup always, even on failure or Ctrl-C: `localhub down`, then every container, volume and network labelled
with the hub's instance, and every container and image labelled with this run's `localhub.bench=<run id>`
(bench_launch.cleanup).

    .venv/bin/python scripts/bench_fill.py [--runs N] [--servers N] [--home-mb MB] [--file-kib KiB]
                                           [--envs N] [--port P]
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import docker

from bench_launch import BENCH_LABEL, LOCALHUB, RUN_ID, cleanup, launch, make_repo
from bench_spawn import fmt, pick_hub_port  # same directory: shared helpers
from bench_tui import SIZE
from localhub import storage
from localhub.client import Client
from localhub.config import Settings
from localhub_tui.app import LocalhubApp

T0 = time.monotonic()
GIB = 2**30
TUI_PARTS = ("  of which servers()", "  of which environments()", "  of which display")

# Writes argv[2] MB in files of argv[3] KiB under argv[1], 200 files a directory (a home's many small files).
FILL_SCRIPT = r"""
import os, sys
root, mb, kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = os.urandom(kib * 1024)
for i in range(mb * 1024 // kib):
    if i % 200 == 0:
        folder = os.path.join(root, f"d{i // 200:05d}")
        os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"f{i % 200:03d}.txt"), "wb") as f:
        f.write(block)
"""


def say(message: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f} s] {message}", flush=True)


def env_repo(tmp: Path, i: int) -> Path:
    """tests/cases/dockerfile-basic in its own git repository, differing from the others by one file (so its
    image is its own)."""
    base = make_repo(tmp)  # tmp/bench-repo
    repo = tmp / f"env-{i:02d}"
    base.rename(repo)
    (repo / "which.txt").write_text(f"environment {i} of bench run {RUN_ID}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhub.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhub.invalid"}
    for args in (["add", "-A"], ["commit", "-q", "-m", f"environment {i}"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)
    return repo


def link_for(port: int, repo: Path) -> str:
    return f"http://127.0.0.1:{port}/v2/git/{quote('file://' + str(repo), safe='')}/HEAD"


def build_env(client: Client, link: str) -> str:
    """Launch once (builds, starts its server), stop the server; its name."""
    _, ready = launch(client, link)
    client.stop_server(ready["server"])
    return ready["server"]


def fill_server(client: Client, engine, instance: str, name: str, mb: int, kib: int) -> None:
    """Create a named server, write `mb` MB of `kib` KiB files into its home as its user would, stop it."""
    for _event in client.create_server(name):
        pass
    container = engine.containers.get(storage.container_name(instance, client.user, name))
    code, out = container.exec_run(["python3", "-c", FILL_SCRIPT, "/home/jovyan/filled", str(mb), str(kib)])
    if code != 0:
        raise RuntimeError(f"filling server '{name}' failed: {out.decode(errors='replace')[-300:]}")
    client.stop_server(name)


def servers_ls(env: dict, state_dir: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(LOCALHUB + ["servers", "ls", "--state-dir", str(state_dir)], env=env, check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - t0


class TuiRefresh:
    """The real TUI, headless, against the bench's hub; `refresh()` times one poll's data and its display."""

    def __init__(self, state_dir: Path):
        self.app = LocalhubApp(state_dir, refresh_interval=3600)
        self.loop = asyncio.new_event_loop()
        self.requests: list = []
        self.parts: list[tuple[float, float, float]] = []  # each refresh: servers(), environments(), display
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)
        self.thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("the TUI did not connect to the hub within 60 s")

    async def _run(self) -> None:
        async with self.app.run_test(size=SIZE) as pilot:
            while not self.app.ever_connected:
                await pilot.pause(0.05)
            self.pilot = pilot
            self.ready.set()
            while True:
                if not self.requests:
                    await asyncio.sleep(0.02)
                    continue
                done = self.requests.pop(0)
                if done is None:
                    return
                await pilot.pause()
                app = self.app
                t0 = time.perf_counter()
                client = app.connection.client
                servers = client.servers()
                t1 = time.perf_counter()
                environments = client.environments() if app.connection.offers("environments") else None
                t2 = time.perf_counter()
                app._fresh(app.poll_number, None, servers, environments, None)
                app.screen._on_timer_update()  # compose the frame now
                t3 = time.perf_counter()
                self.parts.append((t1 - t0, t2 - t1, t3 - t2))
                done.append((t3 - t0, len(servers)))

    def refresh(self) -> tuple[float, int]:
        """Seconds of one refresh and how many servers it showed."""
        done: list = []
        self.requests.append(done)
        while not done:
            if not self.thread.is_alive():
                raise RuntimeError("the TUI stopped")
            time.sleep(0.01)
        return done[0]

    def close(self) -> None:
        self.requests.append(None)
        self.thread.join(30)


def measure(phase: str, client: Client, env: dict, state_dir: Path, link: str, server: str, runs: int) -> dict:
    say(f"{phase}: {runs} rounds of launch (server stopped), servers ls, TUI refresh")
    tui = TuiRefresh(state_dir)
    found: dict[str, list[float]] = {"launch": [], "servers ls": [], "TUI refresh": []}
    try:
        client.stop_server(server)  # untimed warm-up of each: page cache, the engine's and the hub's first calls
        launch(client, link)
        servers_ls(env, state_dir)
        tui.refresh()
        for i in range(runs):
            client.stop_server(server)
            found["launch"].append(launch(client, link)[0])
            found["servers ls"].append(servers_ls(env, state_dir))
            seconds, shown = tui.refresh()
            found["TUI refresh"].append(seconds)
            for key, part in zip(TUI_PARTS, tui.parts[-1]):
                found.setdefault(key, []).append(part)
            say(f"  {phase} {i + 1}/{runs}: launch {found['launch'][-1]:.2f} s, servers ls "
                f"{found['servers ls'][-1]:.2f} s, TUI refresh {seconds * 1000:.0f} ms ({shown} servers)")
    finally:
        tui.close()
    return found


def concurrent_launches(state_dir: Path, links: list[str]) -> tuple[int, float, list[str]]:
    """Launch every link at once; (how many reached ready, seconds until the last did, failures)."""
    failures: list[str] = []

    def one(link: str) -> float:
        return launch(Client(state_dir, timeout=300), link)[0]

    t0 = time.perf_counter()
    ok = 0
    with ThreadPoolExecutor(len(links)) as pool:
        for future in [pool.submit(one, link) for link in links]:
            try:
                future.result()
                ok += 1
            except Exception as err:  # noqa: BLE001 - counted and shown
                failures.append(f"{err.__class__.__name__}: {err}")
    return ok, time.perf_counter() - t0, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds in each phase (default 5)")
    parser.add_argument("--servers", type=int, default=30, help="stopped servers to fill (default 30)")
    parser.add_argument("--home-mb", type=int, default=500, help="MB written into each server's home (default 500)")
    parser.add_argument("--file-kib", type=int, default=4, help="size of each file written, KiB (default 4)")
    parser.add_argument("--envs", type=int, default=20, help="built environments (default 20)")
    parser.add_argument("--parallel", type=int, default=2, help="servers filled / environments built at once")
    parser.add_argument("--port", type=int, default=30900, help="first hub port to try (uses P, P+1, P+2)")
    args = parser.parse_args()
    runs, n_envs = max(args.runs, 2), max(args.envs, 1)

    engine = docker.from_env()
    root = engine.info().get("DockerRootDir", "/var/lib/docker")
    free = shutil.disk_usage(root if os.path.exists(root) else "/").free
    need = args.servers * args.home_mb * 2**20 * 1.1 + 3 * GIB  # homes (+ a tenth: directories, blocks), images
    if free < need:
        print(f"Too little disk for this run: the engine's disk ({root}) has {free / GIB:.1f} GiB free and the "
              f"run needs about {need / GIB:.1f} GiB; lower --servers or --home-mb.", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="localhub-bench-fill-"))
    state_dir, config_dir = tmp / "state", tmp / "config"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text(
        f'labels = {{"localhub.test" = "1", "localhub.bench" = "{RUN_ID}"}}\n'
        f"max_named_servers = {args.servers + n_envs + 10}\n")
    env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(config_dir)}
    instance, ok = None, False
    try:
        port = pick_hub_port(args.port)
        say(f"localhub fill benchmark — run {RUN_ID}, hub port {port}, state {state_dir}; {runs} rounds a phase; "
            f"fill: {args.servers} servers × {args.home_mb} MB in {args.file_kib} KiB files, {n_envs} environments; "
            f"{free / GIB:.1f} GiB free")
        subprocess.run(LOCALHUB + ["up", "--detach", "--state-dir", str(state_dir), "--port", str(port)],
                       env=env, check=True, capture_output=True, text=True)
        client = Client(state_dir, timeout=120)
        instance = client.info()["instance"]
        repos = [env_repo(tmp, i) for i in range(n_envs)]
        links = [link_for(port, repo) for repo in repos]

        say("building environment 1 (the one launched in both phases)")
        first = build_env(client, links[0])
        empty = measure("empty", client, env, state_dir, links[0], first, runs)
        client.stop_server(first)

        say(f"filling: {n_envs - 1} more environments, {args.parallel} at a time")
        with ThreadPoolExecutor(args.parallel) as pool:
            for i, name in enumerate(pool.map(lambda link: build_env(client, link), links[1:]), start=2):
                say(f"  environment {i}/{n_envs} built, server '{name}' stopped")
        say(f"filling: {args.servers} servers × {args.home_mb} MB, {args.parallel} at a time")
        with ThreadPoolExecutor(args.parallel) as pool:
            names = [f"fill-{i:02d}" for i in range(args.servers)]
            for name in pool.map(lambda n: (fill_server(client, engine, instance, n, args.home_mb,
                                                        args.file_kib), n)[1], names):
                say(f"  server '{name}' filled and stopped")
        listed = client.servers()
        say(f"filled: {len(listed)} servers ({sum(s.status != 'stopped' for s in listed)} not stopped), "
            f"{len(client.environments())} environments")
        filled = measure("filled", client, env, state_dir, links[0], first, runs)
        client.stop_server(first)

        say(f"{n_envs} concurrent launches of {n_envs} built environments (servers stopped)")
        builds0 = client.info()["builds_started"]
        launched, seconds, failures = concurrent_launches(state_dir, links)
        builds = client.info()["builds_started"] - builds0
        for failure in failures:
            say(f"  a launch failed: {failure}")

        print(f"\nSummary (one run; medians of {runs}; {args.servers} servers × {args.home_mb} MB in "
              f"{args.file_kib} KiB files, {n_envs} environments)")
        print(f"  {'':<34} {'empty hub':>10} {'filled':>10} {'ratio':>7}   goal ≤ 1.10 x")
        for key in empty:
            e, f = statistics.median(empty[key]), statistics.median(filled[key])
            unit = 1000 if key == "TUI refresh" or key in TUI_PARTS else 1
            suffix = "ms" if unit == 1000 else "s"
            print(f"  {key + ' (' + suffix + ')':<34} {e * unit:10.3f} {f * unit:10.3f} {f / e:7.2f} x"
                  f"   empty [{fmt([v * unit for v in empty[key]])}] filled [{fmt([v * unit for v in filled[key]])}]")
        print(f"  {n_envs} concurrent launches: {launched}/{n_envs} ready in {seconds:.1f} s, {builds} build(s)")
        ok = launched == n_envs and builds == 0
        return 0 if ok else 1
    except BaseException as err:  # Ctrl-C too: say so, then clean up
        print(f"\nbenchmark failed: {err!r} {getattr(err, 'stderr', '') or ''}".strip(), file=sys.stderr)
        print(f"hub log kept: {state_dir / 'logs' / 'hub.log'}", file=sys.stderr)
        return 1
    finally:
        say("cleaning up (hub down, containers, volumes, images of this run)")
        cleanup(env, state_dir, instance or Settings(state_dir=state_dir).instance)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        say("done")


if __name__ == "__main__":
    sys.exit(main())
