"""Benchmark: does the hub stay fast as the desktop fills? Issue 11: with 30 stopped servers holding 500 MB each
in many small files and 20 built environments, a cached launch, `localhub servers ls` and a TUI refresh each
take ≤ 1.1× their time on an empty hub; and 20 concurrent launches of 20 different built environments all
succeed.

Two throw-away hubs (tmp state and config dirs, max_named_servers raised) on the same engine, measured in
turn in ONE run, so that whatever else the machine does (other benchmarks, writeback of the fill) weighs on both:

  empty    one environment built (tests/cases/dockerfile-basic committed into a tmp git repository), its
           server stopped, nothing else.
  filled   the same environment (the same image: a cached launch), 19 more (the same case, each repository
           differing by a file, so each builds its own image), each launched once and its server stopped; and
           --servers named servers (default 30), each created, filled through `docker exec` as its user with
           --home-mb MB (default 500) of --file-kib KiB files (default 4: many small files, as a home holds),
           then stopped.

Both hubs are built first, then --runs rounds, interleaved hub by hub and measure by measure (empty then
filled in even rounds, filled then empty in odd ones), medians compared:

  launch        Client.launch(<Binder link>) of the first environment while its server is stopped (stopped
                untimed first), timed from the call to the `ready` event (bench_launch.py's measure).
  servers ls    `localhub servers ls` as a user types it (a new process: its start-up is in the figure).
  TUI refresh   one poll of the real TUI against the real hub, as its poll worker makes it (LocalhubApp.fetch:
                Client.listing(): servers and environments in one request), then handing the data to the app
                (`_fresh`: servers table updated by key, environments tab, hub bar) and composing the next frame
                (headless Textual, Pilot, the frame composed at once as bench_tui.py does). `info` is left out:
                asked once in five polls.
                Each hub has its own TUI, in a process of its own (this script with --tui-worker), started
                once both hubs are built. Its two parts are printed too (the data, its display), to say where
                it grows.

`servers ls` and the TUI refresh are each taken --repeat times per hub and round (medians over all), and the
CPU time the hub's two processes (the daemon and JupyterHub, from /proc) spent on them is printed per call: a
figure the machine's load barely moves, where the wall-clock times of a busy machine vary twofold.

Last, every environment's server stopped, all 20 environments are launched at once (one thread each):
how many reached `ready`, and the time until the last did.

Disk: the homes need --servers × --home-mb (15 GB by default) plus the images; the script checks the engine's
free space first and refuses with a sentence if it is short. A quick run: --servers 5 --home-mb 50 --envs 5.

Cleanup always, even on failure or Ctrl-C: `localhub down` of each hub, then every container, volume and
network labelled with its instance, and every container and image labelled with this run's `localhub.bench=<run id>`
(bench_launch.cleanup).

    .venv/bin/python scripts/bench_fill.py [--runs N] [--servers N] [--home-mb MB] [--file-kib KiB]
                                           [--envs N] [--repeat N] [--parallel N] [--port P]
"""

import argparse
import asyncio
import json
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
TUI_PARTS = ("  of which data", "  of which display")
CPU_ROWS = {"servers ls": "  daemon + hub CPU per ls", "TUI refresh": "  daemon + hub CPU per refresh"}
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")

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
        self.parts: list[tuple[float, float]] = []  # each refresh: its data, its display
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
                _, servers, environments, _ = app.fetch(app.connection.client, with_info=False)
                t1 = time.perf_counter()
                app._fresh(app.poll_number, None, servers, environments, None)
                app.screen._on_timer_update()  # compose the frame now
                t2 = time.perf_counter()
                self.parts.append((t1 - t0, t2 - t1))
                done.append((t2 - t0, len(servers)))

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


def tui_worker(state_dir: Path) -> int:
    """--tui-worker: a TUI on the hub of `state_dir`; each line on stdin asks one refresh, answered by a JSON
    line on stdout: {"total", "data", "display" (seconds), "shown" (servers)}."""
    answers = os.fdopen(os.dup(1), "w")  # the answers' own channel: whatever else prints goes to stderr
    os.dup2(2, 1)
    tui = TuiRefresh(state_dir)
    print(json.dumps({"ready": True}), file=answers, flush=True)
    try:
        for _line in sys.stdin:
            total, shown = tui.refresh()
            data, display = tui.parts[-1]
            print(json.dumps({"total": total, "data": data, "display": display, "shown": shown}), file=answers,
                  flush=True)
    finally:
        tui.close()
    return 0


class Hub:
    """One throw-away hub of this run: its dirs, client, first environment's link and server, and its TUI."""

    def __init__(self, name: str, tmp: Path, port: int, max_servers: int):
        self.name = name
        self.state_dir, config_dir = tmp / name / "state", tmp / name / "config"
        config_dir.mkdir(parents=True)
        (config_dir / "config.toml").write_text(
            f'labels = {{"localhub.test" = "1", "localhub.bench" = "{RUN_ID}"}}\n'
            f"max_named_servers = {max_servers}\n")
        self.env = {**os.environ, "LOCALHUB_CONFIG_DIR": str(config_dir)}
        self.port = port
        self.instance: str | None = None
        self.tui: subprocess.Popen | None = None
        self.found: dict[str, list[float]] = {"launch": [], "servers ls": [], "TUI refresh": []}
        self.cpu: dict[str, float] = {"servers ls": 0.0, "TUI refresh": 0.0}  # ms, summed over the rounds

    def up(self) -> None:
        subprocess.run(LOCALHUB + ["up", "--detach", "--state-dir", str(self.state_dir), "--port", str(self.port)],
                       env=self.env, check=True, capture_output=True, text=True)
        self.client = Client(self.state_dir, timeout=120)
        self.instance = self.client.info()["instance"]

    def start_tui(self) -> None:
        self.tui = subprocess.Popen([sys.executable, __file__, "--tui-worker", str(self.state_dir)], env=self.env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if not json.loads(self.tui.stdout.readline() or "{}").get("ready"):
            raise RuntimeError(f"the {self.name} hub's TUI did not start")

    def tui_refresh(self) -> dict:
        self.tui.stdin.write("refresh\n")
        self.tui.stdin.flush()
        line = self.tui.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} hub's TUI stopped")
        return json.loads(line)

    def stop_tui(self) -> None:
        if self.tui is not None:
            self.tui.stdin.close()
            try:
                self.tui.wait(30)
            except subprocess.TimeoutExpired:
                self.tui.kill()

    def down(self) -> None:
        self.stop_tui()
        subprocess.run(LOCALHUB + ["down", "--state-dir", str(self.state_dir)], env=self.env, capture_output=True,
                       timeout=120)

    def cleanup(self) -> bool:
        """Stop its TUI, `localhub down`, remove what it made; a few tries (a container still stopping holds
        its volume). False, saying so, if something is left."""
        self.stop_tui()
        for attempt in range(3):
            try:
                cleanup(self.env, self.state_dir, self.instance or Settings(state_dir=self.state_dir).instance)
                return True
            except Exception as err:  # noqa: BLE001 - said, then tried again; the other hub is cleaned anyway
                say(f"  cleaning up the {self.name} hub failed ({err.__class__.__name__}: {err}); "
                    + ("trying again" if attempt < 2 else "giving up: remove what is labelled "
                       f"localhub.bench={RUN_ID} by hand"))
                time.sleep(5)
        return False

    # --- the three measures ---------------------------------------------------------------------------
    def launch(self) -> float:
        self.client.stop_server(self.server)
        return launch(self.client, self.link)[0]

    def servers_ls(self) -> float:
        return servers_ls(self.env, self.state_dir)

    def cpu_ms(self) -> float:
        """CPU time (user + system) the daemon and JupyterHub have spent so far, in ms."""
        runtime = json.loads((self.state_dir / "runtime.json").read_text())
        total = 0.0
        for pid in (runtime["daemon_pid"], runtime["hub_pid"]):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) * TICK_MS
        return total


def measure(hubs: list[Hub], runs: int, repeat: int) -> None:
    """`runs` rounds; in each, every measure taken on every hub in turn (the hubs' order alternating), `servers ls`
    and the TUI refresh `repeat` times each; the daemon's and the hub's CPU time summed over them."""
    say(f"warm-up (untimed), then {runs} rounds of launch (server stopped), servers ls, TUI refresh on "
        f"{' and '.join(h.name for h in hubs)} hubs in turn")
    for hub in hubs:  # page cache, the engine's and the hub's first calls
        hub.launch()
        hub.servers_ls()
        hub.tui_refresh()
    for i in range(runs):
        order = hubs if i % 2 == 0 else hubs[::-1]
        for hub in order:
            hub.found["launch"].append(hub.launch())
        for hub in order:
            cpu0 = hub.cpu_ms()
            for _ in range(repeat):
                hub.found["servers ls"].append(hub.servers_ls())
            hub.cpu["servers ls"] += hub.cpu_ms() - cpu0
        for hub in order:
            cpu0 = hub.cpu_ms()
            for _ in range(repeat):
                parts = hub.tui_refresh()
                hub.found["TUI refresh"].append(parts["total"])
                for key, part in zip(TUI_PARTS, ("data", "display")):
                    hub.found.setdefault(key, []).append(parts[part])
            hub.cpu["TUI refresh"] += hub.cpu_ms() - cpu0
            hub.shown = parts["shown"]
        say(f"  round {i + 1}/{runs} (load {load()}): " + "; ".join(
            f"{h.name}: launch {h.found['launch'][-1]:.2f} s, servers ls {h.found['servers ls'][-1]:.2f} s, "
            f"TUI refresh {h.found['TUI refresh'][-1] * 1000:.0f} ms ({h.shown} servers)" for h in hubs))


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


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
    if sys.argv[1:2] == ["--tui-worker"]:
        return tui_worker(Path(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--servers", type=int, default=30, help="stopped servers to fill (default 30)")
    parser.add_argument("--home-mb", type=int, default=500, help="MB written into each server's home (default 500)")
    parser.add_argument("--file-kib", type=int, default=4, help="size of each file written, KiB (default 4)")
    parser.add_argument("--repeat", type=int, default=5, help="servers ls and TUI refreshes per hub and round")
    parser.add_argument("--envs", type=int, default=20, help="built environments (default 20)")
    parser.add_argument("--parallel", type=int, default=2, help="servers filled / environments built at once")
    parser.add_argument("--port", type=int, default=30900, help="first hub port to try (uses 6 from P on)")
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
    hubs: list[Hub] = []
    ok = False
    try:
        port = pick_hub_port(args.port)
        empty = Hub("empty", tmp, port, args.servers + n_envs + 10)
        hubs.append(empty)
        filled = Hub("filled", tmp, pick_hub_port(port + 3), args.servers + n_envs + 10)
        hubs.append(filled)
        say(f"localhub fill benchmark — run {RUN_ID}, hubs on ports {empty.port} (empty) and {filled.port} "
            f"(filled), in {tmp}; {runs} rounds; fill: {args.servers} servers × {args.home_mb} MB in "
            f"{args.file_kib} KiB files, {n_envs} environments; {free / GIB:.1f} GiB free; load {load()}")
        for hub in hubs:
            hub.up()
        repos = [env_repo(tmp, i) for i in range(n_envs)]

        say("empty hub: building environment 1 (the one launched on both hubs)")
        empty.link = link_for(empty.port, repos[0])
        empty.server = build_env(empty.client, empty.link)
        links = [link_for(filled.port, repo) for repo in repos]
        filled.link = links[0]

        client = filled.client
        say(f"filled hub: environment 1 (cached) and {n_envs - 1} more, {args.parallel} at a time")
        with ThreadPoolExecutor(args.parallel) as pool:
            names = list(pool.map(lambda link: build_env(client, link), links))
            filled.server = names[0]
            for i, name in enumerate(names, start=1):
                say(f"  environment {i}/{n_envs} ready, server '{name}' stopped")
        say(f"filled hub: {args.servers} servers × {args.home_mb} MB, {args.parallel} at a time")
        with ThreadPoolExecutor(args.parallel) as pool:
            names = [f"fill-{i:02d}" for i in range(args.servers)]
            for name in pool.map(lambda n: (fill_server(client, engine, filled.instance, n, args.home_mb,
                                                        args.file_kib), n)[1], names):
                say(f"  server '{name}' filled and stopped")
        for hub in hubs:
            listed = hub.client.servers()
            say(f"{hub.name} hub: {len(listed)} servers ({sum(s.status != 'stopped' for s in listed)} not stopped), "
                f"{len(hub.client.environments())} environments")
        subprocess.run(["sync"], check=False)  # the fill's writeback done before anything is timed
        for hub in hubs:
            hub.start_tui()
        load_before = load()
        measure(hubs, runs, max(args.repeat, 1))
        load_after = load()

        say(f"filled hub: {n_envs} concurrent launches of {n_envs} built environments (servers stopped)")
        client.stop_server(filled.server)
        builds0 = client.info()["builds_started"]
        launched, seconds, failures = concurrent_launches(filled.state_dir, links)
        builds = client.info()["builds_started"] - builds0
        for failure in failures:
            say(f"  a launch failed: {failure}")

        print(f"\nSummary (one run; medians of {runs} interleaved rounds; filled: {args.servers} servers × "
              f"{args.home_mb} MB in {args.file_kib} KiB files, {n_envs} environments; load average "
              f"{load_before} before the rounds, {load_after} after)")
        print(f"  {'':<34} {'empty hub':>10} {'filled':>10} {'ratio':>7}   goal ≤ 1.10 x")
        for key in empty.found:
            e, f = statistics.median(empty.found[key]), statistics.median(filled.found[key])
            unit = 1000 if key == "TUI refresh" or key in TUI_PARTS else 1
            suffix = "ms" if unit == 1000 else "s"
            print(f"  {key + ' (' + suffix + ')':<34} {e * unit:10.3f} {f * unit:10.3f} {f / e:7.2f} x"
                  f"   empty [{fmt([v * unit for v in empty.found[key]])}] "
                  f"filled [{fmt([v * unit for v in filled.found[key]])}]")
            if key in CPU_ROWS:  # mean over every call, in the clock ticks /proc counts (10 ms) / calls
                calls = len(empty.found[key])
                e, f = empty.cpu[key] / calls, filled.cpu[key] / calls
                print(f"  {CPU_ROWS[key] + ' (ms)':<34} {e:10.1f} {f:10.1f} {f / e if e else float('nan'):7.2f} x"
                      f"   ({calls} calls each, ±{TICK_MS / calls:.1f} ms)")
        print(f"  {n_envs} concurrent launches: {launched}/{n_envs} ready in {seconds:.1f} s, {builds} build(s)")
        ok = launched == n_envs and builds == 0
        return 0 if ok else 1
    except BaseException as err:  # Ctrl-C too: say so, then clean up
        print(f"\nbenchmark failed: {err!r} {getattr(err, 'stderr', '') or ''}".strip(), file=sys.stderr)
        for hub in hubs:
            print(f"{hub.name} hub's log kept: {hub.state_dir / 'logs' / 'hub.log'}", file=sys.stderr)
        return 1
    finally:
        say("cleaning up (hubs down, containers, volumes, images of this run)")
        for hub in hubs:  # every hub down first: the run's label is on both hubs' containers and volumes
            hub.down()
        cleaned = [hub.cleanup() for hub in hubs]
        if ok and all(cleaned):
            shutil.rmtree(tmp, ignore_errors=True)
        say("done")


if __name__ == "__main__":
    sys.exit(main())
